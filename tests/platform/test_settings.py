"""Settings come from the environment with safe defaults; production settings pass
`manage.py check --deploy`."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: variables the test settings or the developer's shell may have set: start from none
OURS = ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in OURS and not k.startswith("THAIYYAL_")}
    return {**env, "DJANGO_SETTINGS_MODULE": "thaiyyal.settings",
            "THAIYYAL_VAR_DIR": str(tmp_path / "var"), **values}


def python(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def settings_of(env: dict[str, str], *names: str) -> dict:
    code = ("import json; from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))")
    done = python(env, code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = environment(tmp_path, SECRET_KEY=secrets.token_urlsafe(50),
                      ALLOWED_HOSTS="thaiyyal.example.com", THAIYYAL_HSTS_PRELOAD="1")

    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy",
                           "--fail-level", "WARNING"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_defaults_are_safe(tmp_path):
    values = settings_of(environment(tmp_path, SECRET_KEY="x" * 50), "DEBUG", "ALLOWED_HOSTS",
                         "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
                         "DATA_UPLOAD_MAX_MEMORY_SIZE", "THAIYYAL_LIMITS", "DATABASES")

    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] > 0
    assert values["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 1024 * 1024
    assert values["THAIYYAL_LIMITS"]["max_execution_time"] == 30.0
    db = values["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "var" / "thaiyyal.sqlite3")


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    done = python(environment(tmp_path), "from django.conf import settings; settings.DEBUG")

    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr


def test_debug_generates_a_secret_key_once_and_keeps_it(tmp_path):
    env = environment(tmp_path, DEBUG="1")

    first = settings_of(env, "SECRET_KEY")["SECRET_KEY"]
    second = settings_of(env, "SECRET_KEY")["SECRET_KEY"]

    assert first == second
    assert len(first) >= 50
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_postgresql_uses_psycopg_with_the_connection_pool(tmp_path):
    env = environment(tmp_path, SECRET_KEY="x" * 50,
                      DATABASE_URL="postgres://app:pw@db.internal:5432/thaiyyal",
                      THAIYYAL_DB_POOL_MAX_SIZE="8")

    db = settings_of(env, "DATABASES")["DATABASES"]["default"]

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["NAME"], db["USER"]) == ("db.internal", "thaiyyal", "app")
    assert db["OPTIONS"]["pool"]["max_size"] == 8
    assert db["CONN_MAX_AGE"] == 0
    assert db["CONN_HEALTH_CHECKS"] is True


def test_limits_and_allowlist_come_from_the_environment(tmp_path):
    env = environment(tmp_path, SECRET_KEY="x" * 50, THAIYYAL_MAX_EXECUTION_TIME="10m",
                      THAIYYAL_MAX_NODE_EXECUTIONS="50000",
                      THAIYYAL_HTTP_ALLOWED_HOSTS="api.internal, *.corp.example",
                      THAIYYAL_HTTP_ALLOWED_NETWORKS="10.1.0.0/16")

    values = settings_of(env, "THAIYYAL_LIMITS", "THAIYYAL_HTTP_ALLOWED_HOSTS",
                         "THAIYYAL_HTTP_ALLOWED_NETWORKS")

    assert values["THAIYYAL_LIMITS"]["max_execution_time"] == 600.0
    assert values["THAIYYAL_LIMITS"]["max_node_executions"] == 50000
    assert values["THAIYYAL_HTTP_ALLOWED_HOSTS"] == ["api.internal", "*.corp.example"]
    assert values["THAIYYAL_HTTP_ALLOWED_NETWORKS"] == ["10.1.0.0/16"]


def test_a_bad_value_stops_the_start_naming_the_variable(tmp_path):
    for name, value in (("DEBUG", "maybe"), ("THAIYYAL_MAX_EXECUTION_TIME", "soon"),
                        ("THAIYYAL_MAX_HTTP_CALLS", "0")):
        done = python(environment(tmp_path, SECRET_KEY="x" * 50, **{name: value}),
                      "from django.conf import settings; settings.DEBUG")
        assert done.returncode != 0
        assert "ImproperlyConfigured" in done.stderr
        assert name.removeprefix("THAIYYAL_").lower() in done.stderr.lower(), done.stderr
