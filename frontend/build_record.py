"""The record of what the committed pages' JavaScript and CSS were built from.

`make frontend` builds the libraries into workflows/static/vendor/ and our code
(frontend/src) into workflows/static/workflows/dist/, and then runs this script. It
writes frontend/build-record.json: the sha256 of every source file (frontend/src,
package.json, the lockfile) and of every built file. A test
(tests/pages/test_frontend_build.py) recomputes both from the checkout with no Node, so
a source changed without a rebuild, or a built file changed by hand, fails the suite."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent
ROOT = FRONTEND.parent
DIST = ROOT / "workflows" / "static" / "workflows" / "dist"
VENDOR = ROOT / "workflows" / "static" / "vendor"
RECORD = FRONTEND / "build-record.json"


def _digests(paths: list[Path]) -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(paths)}


def current() -> dict[str, dict[str, str]]:
    """The checkout's sources and built files, each with its sha256."""
    sources = [p for p in (FRONTEND / "src").rglob("*") if p.is_file()]
    sources += [FRONTEND / "package.json", FRONTEND / "package-lock.json"]
    built = [p for folder in (DIST, VENDOR) for p in folder.iterdir() if p.is_file()]
    return {"sources": _digests(sources), "built": _digests(built)}


def recorded() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(RECORD.read_text())
    return data


def main() -> int:
    RECORD.write_text(json.dumps(current(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {RECORD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
