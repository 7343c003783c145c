"""Reading settings from the environment: typed, with defaults, and loud about bad values.

A typo in a deployment's environment should stop the server at start with a message
naming the variable, not surface later as odd behaviour.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    """Comma-separated values, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def local_checkout(var_dir: Path) -> bool:
    """Whether this is a checkout `make run` set up for local use (its generated key is in
    `var_dir`) and SECRET_KEY is unset: DEBUG then defaults to on, so every command in the
    README works as written after `make run`. A deployment sets SECRET_KEY (and never ships
    var/: .dockerignore), so this never applies to it."""
    return not env_str("SECRET_KEY") and (var_dir / "secret_key").is_file()


def secret_key(debug: bool, key_file: Path) -> str:
    """SECRET_KEY from the environment; else, for local use (DEBUG on), one generated once
    and kept in `key_file` so sessions survive restarts. Required when DEBUG is off."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not debug:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (generate one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(50))')")
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temporary file, then linked into place: several processes
    # starting at once (gunicorn workers) all end up reading the one key that won.
    tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    try:
        os.link(tmp, key_file)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return key_file.read_text().strip()
