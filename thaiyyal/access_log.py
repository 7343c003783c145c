"""Gunicorn's access log, with webhook secrets left out, and atoms computed on demand.

A webhook's secret is the last part of its URL (`/api/v1/hooks/<secret>`), and an
access log line holds the request line: whoever reads the logs could call the webhook.
The secret is replaced by `<secret>` in the request line and the path; everything else is
gunicorn's own.

Gunicorn builds every atom for every request (a timestamp, each request and response
header, the whole WSGI environ, each escaped) and then formats the few its format names:
~6% of a short request's CPU in a worker's profile. `_Atoms` computes only the atoms the
format asks for, with gunicorn's values and escaping; any atom it does not know comes
from gunicorn's own table, built once for that line (`r` and `U`, the atoms that hold
the path, are always quick ones, so they are always redacted). Light to import: gunicorn loads it
before Django is set up.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

_HOOK = re.compile(r"(/api/v1/hooks/)[^/?\s]+")


def redact_path(text: str) -> str:
    """`text` (a path, a URI, a request line) with any webhook secret in it replaced."""
    return _HOOK.sub(r"\1<secret>", text)


def _redacted(text: str) -> str:
    return redact_path(text) if "/hooks/" in text else text


def _path(path: str | None) -> str | None:
    return _redacted(path) if path is not None else None


def _status(resp: Any) -> Any:
    status = resp.status
    return status.split(None, 1)[0] if isinstance(status, str) else status


def _sent(resp: Any) -> str:
    sent = getattr(resp, "sent", None)
    return str(sent) if sent is not None else "-"


#: the atoms of the default format (and a few cheap others), as gunicorn computes them,
#: the request line and the path (`r`, `U`) with webhook secrets redacted
_QUICK: dict[str, Callable[[Any, Any, dict[str, Any], Any], Any]] = {
    "h": lambda resp, req, env, took: env.get("REMOTE_ADDR", "-"),
    "r": lambda resp, req, env, took: _redacted(
        f"{env['REQUEST_METHOD']} {env['RAW_URI']} {env['SERVER_PROTOCOL']}"),
    "s": lambda resp, req, env, took: _status(resp),
    "m": lambda resp, req, env, took: env.get("REQUEST_METHOD"),
    "U": lambda resp, req, env, took: _path(env.get("PATH_INFO")),
    "q": lambda resp, req, env, took: env.get("QUERY_STRING"),
    "H": lambda resp, req, env, took: env.get("SERVER_PROTOCOL"),
    "b": lambda resp, req, env, took: _sent(resp),
    "B": lambda resp, req, env, took: getattr(resp, "sent", None),
    "T": lambda resp, req, env, took: took.seconds,
    "D": lambda resp, req, env, took: took.seconds * 1000000 + took.microseconds,
    "M": lambda resp, req, env, took: took.seconds * 1000 + int(took.microseconds / 1000),
    "L": lambda resp, req, env, took: f"{took.seconds:d}.{took.microseconds:06d}",
    "p": lambda resp, req, env, took: f"<{os.getpid()}>",
}


class _Atoms(dict):  # type: ignore[type-arg]
    """The mapping an access line is formatted with (logging applies `format % atoms`
    when the line is emitted, in this thread)."""

    def __init__(self, logger: AccessLogger, resp: Any, req: Any, environ: dict[str, Any],
                 request_time: Any) -> None:
        super().__init__()
        self._args = (resp, req, environ, request_time)
        self._logger = logger
        self._all: SafeAtoms | None = None

    def __bool__(self) -> bool:
        return True  # logging passes a mapping on only when it is truthy

    def __getitem__(self, key: str) -> Any:
        quick = _QUICK.get(key)
        if quick is None:
            if self._all is None:
                self._all = SafeAtoms(self._logger.atoms(*self._args))
            return self._all[key]
        value = quick(*self._args)
        return value.replace('"', '\\"') if isinstance(value, str) else value


class AccessLogger(Logger):  # type: ignore[misc]
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        try:
            self.access_log.info(self.cfg.access_log_format,
                                 _Atoms(self, resp, req, environ, request_time))
        except Exception:
            self.error(traceback.format_exc())
