"""Gunicorn's access log, with webhook secrets left out.

A webhook's secret is the last part of its URL (`/api/v1/hooks/<secret>`), and an
access log line holds the request line: whoever reads the logs could call the webhook.
The secret is replaced by `<secret>` in the request line and the path; everything else is
gunicorn's own. Light to import: gunicorn loads it before Django is set up.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

_HOOK = re.compile(r"(/api/v1/hooks/)[^/?\s]+")


def redact_path(text: str) -> str:
    """`text` (a path, a URI, a request line) with any webhook secret in it replaced."""
    return _HOOK.sub(r"\1<secret>", text)


class AccessLogger(Logger):  # type: ignore[misc]
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any],
              request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str) and "/hooks/" in atoms[key]:
                atoms[key] = redact_path(atoms[key])
        return atoms
