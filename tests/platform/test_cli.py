"""The `thaiyyal` command: run (engine only), manage, serve's start-up, and the gunicorn
configuration it uses."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.platform.serving import server_environment

ROOT = Path(__file__).resolve().parents[2]
THAIYYAL = Path(sys.executable).with_name("thaiyyal")


def thaiyyal(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(THAIYYAL), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_help_lists_the_commands():
    done = thaiyyal("--help")
    assert done.returncode == 0
    for command in ("run", "serve", "manage"):
        assert command in done.stdout


def test_run_executes_the_demo_with_the_engine_alone():
    done = thaiyyal("run", "examples/demo.json", "--compact")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["final_output"] == "Total for Ada: 33.75"


def test_serve_refuses_to_start_without_a_secret_key(tmp_path):
    env = server_environment("sqlite:///" + str(tmp_path / "db.sqlite3"), tmp_path)
    del env["SECRET_KEY"]

    done = thaiyyal("serve", "--bind", "127.0.0.1:9", env=env)

    assert done.returncode == 2
    assert "SECRET_KEY must be set" in done.stderr


@pytest.mark.parametrize("command", [["worker", "--concurrency", "1"], ["scheduler"]])
def test_queue_commands_without_a_broker_exit_2_naming_the_setting(tmp_path, command):
    env = server_environment("sqlite:///" + str(tmp_path / "db.sqlite3"), tmp_path)
    env.pop("THAIYYAL_BROKER_URL", None)

    done = thaiyyal(*command, env=env)

    assert done.returncode == 2
    assert "THAIYYAL_BROKER_URL" in done.stderr


def test_manage_runs_django_commands(tmp_path):
    env = server_environment("sqlite:///" + str(tmp_path / "db.sqlite3"), tmp_path)

    done = thaiyyal("manage", "migrate", "--plan", env=env)

    assert done.returncode == 0, done.stderr
    assert "workflows.0001_initial" in done.stdout


def gunicorn_settings(**env: str) -> dict:
    code = ("import json, runpy; ns = runpy.run_path('deploy/gunicorn.conf.py');"
            "print(json.dumps({k: ns[k] for k in ('timeout', 'graceful_timeout', 'workers',"
            "'worker_class', 'max_requests', 'max_requests_jitter', 'bind')}))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THAIYYAL_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={**clean, **env}, timeout=60, check=True)
    return json.loads(done.stdout)


def test_gunicorn_timeouts_follow_the_execution_limit():
    strict = gunicorn_settings(THAIYYAL_MAX_EXECUTION_TIME="30s")
    batch = gunicorn_settings(THAIYYAL_MAX_EXECUTION_TIME="10m")

    assert (strict["timeout"], strict["graceful_timeout"]) == (60, 35)
    assert (batch["timeout"], batch["graceful_timeout"]) == (630, 605)
    # gunicorn's sync worker, with a deadline on each client's headers
    assert strict["worker_class"] == "thaiyyal.sync_worker.HeaderDeadlineWorker"
    assert (strict["max_requests"], strict["max_requests_jitter"]) == (20000, 2000)
    assert strict["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert strict["bind"] == "127.0.0.1:8080"


@pytest.mark.django_db
def test_create_demo_shows_the_password_and_token_once(django_user_model):
    first, second = StringIO(), StringIO()

    call_command("create_demo", stdout=first)
    call_command("create_demo", stdout=second)

    lines = {key: value.strip() for key, value in (
        line.strip().split(":", 1) for line in first.getvalue().splitlines()
        if line.strip().startswith(("password:", "API token:")))}
    assert set(lines) == {"password", "API token"}
    assert lines["password"] not in second.getvalue()
    assert lines["API token"] not in second.getvalue()
    demo = django_user_model.objects.get(username="demo")
    assert demo.check_password(lines["password"])
    assert demo.is_staff
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {lines['API token']}")
    workflow = client.get("/api/v1/workflows/").json()["results"][0]
    response = client.post(f"/api/v1/workflows/{workflow['id']}/execute",
                           {"inputs": {"quantity": 1}}, format="json")
    assert response.json()["results"]["final_output"] == "Total for Ada: 12.5"


@pytest.mark.django_db
def test_create_demo_reset_gives_a_new_password(django_user_model):
    call_command("create_demo", stdout=StringIO())
    out = StringIO()

    call_command("create_demo", "--reset", stdout=out)

    assert "password:" in out.getvalue()
    assert django_user_model.objects.filter(username="demo").count() == 1


@pytest.mark.timeout(60)
def test_serve_without_migrate_starts_while_the_database_is_down(tmp_path):
    from tests.platform.serving import serve

    env = server_environment("postgres://nobody@127.0.0.1:9/none", tmp_path)

    with serve(env, tmp_path / "server.log", "--no-migrate", "--workers", "1",
               ready_status=503) as server:
        status, body = server.request("GET", "/readyz")
        assert (status, body["status"]) == (503, "unavailable")
        assert "could not reap interrupted runs" in server.output()


@pytest.mark.django_db
def test_a_second_create_demo_keeps_the_users_change_to_the_demo(django_user_model):
    from workflows import services
    from workflows.models import Workflow

    call_command("create_demo", stdout=StringIO())
    demo = Workflow.objects.get()
    mine = {"nodes": [{"id": "n", "type": "number", "data": {"value": 7}}], "edges": []}
    services.update_workflow(demo, user=demo.owner, definition=mine)

    call_command("create_demo", stdout=StringIO())  # what a second `make run` does

    demo.refresh_from_db()
    assert demo.current_version.definition == mine
    assert demo.versions.count() == 2
    call_command("create_demo", "--reload", stdout=StringIO())
    demo.refresh_from_db()
    assert demo.current_version.number == 3
    assert demo.current_version.definition["workflow_id"] == "demo-order-total"


def test_manage_without_a_secret_key_says_so_without_a_traceback(tmp_path):
    env = server_environment("sqlite:///" + str(tmp_path / "db.sqlite3"), tmp_path)
    del env["SECRET_KEY"]

    done = thaiyyal("manage", "reap_runs", env=env)

    assert done.returncode == 2
    assert done.stderr.startswith("thaiyyal manage: SECRET_KEY must be set when DEBUG is off")
    assert "Traceback" not in done.stderr


def test_commands_run_locally_in_a_checkout_make_run_set_up(tmp_path):
    """After `make run` (its key in var/), `thaiyyal manage ...` works as written, without
    DEBUG=1 or SECRET_KEY in the environment."""
    env = server_environment("sqlite:///" + str(tmp_path / "db.sqlite3"), tmp_path)
    del env["SECRET_KEY"]
    (tmp_path / "secret_key").write_text("local-" + "k" * 50)

    assert thaiyyal("manage", "migrate", "--noinput", env=env).returncode == 0
    demo = thaiyyal("manage", "create_demo", "--reset", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "API token:" in demo.stdout
    demo_id = re.search(r"Demo workflow .*: id (\d+),", demo.stdout).group(1)

    # The rest side by side (each is a process of its own on the one SQLite database),
    # with the commands the docs name in their prose (docs/security.md, docs/queue.md) as
    # written there, the workflow id aside.
    commands = {"reap": ["reap_runs"], "prune": ["prune_runs", "--days", "30"],
                "key": ["credential_key"], "rotated": ["rotate_credentials"],
                "scheduled": ["schedule_workflow", demo_id, "--cron", "*/5 * * * *",
                              "--inputs", '{"customer": "Ada"}'],
                "reset": ["axes_reset"]}
    with ThreadPoolExecutor(len(commands)) as pool:
        done = dict(zip(commands, pool.map(lambda c: thaiyyal("manage", *c, env=env),
                                           commands.values()), strict=True))
    for name in ("reap", "prune", "reset"):
        assert done[name].returncode == 0, done[name].stderr
    key, rotated, scheduled, reset = (done[n] for n in ("key", "rotated", "scheduled", "reset"))
    assert key.returncode == 0, key.stderr
    assert len(base64.urlsafe_b64decode(key.stdout.strip())) == 32  # a Fernet key
    assert (rotated.returncode, rotated.stdout) == (0, "re-encrypted 0 credential(s)\n"), \
        rotated.stderr
    assert scheduled.returncode == 0, scheduled.stderr
    assert re.fullmatch(r"schedule \d+: .*\*/5 \* \* \* \*\n", scheduled.stdout)
    assert "Traceback" not in key.stderr + rotated.stderr + scheduled.stderr + reset.stderr
