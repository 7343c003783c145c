"""With THAIYYAL_REQUIRE_POSTGRES=1 (CI) the suite fails, never skips, when PostgreSQL is
not the database or cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("database_url", "message"), [
    ("postgres://postgres@127.0.0.1:9/nothing_listens_here", "PostgreSQL is unreachable"),
    ("", "DATABASE_URL is not a PostgreSQL URL"),
])
def test_suite_fails_at_once_without_postgresql(database_url, message):
    env = {**os.environ, "THAIYYAL_REQUIRE_POSTGRES": "1", "DATABASE_URL": database_url}

    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/api/test_validate.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 1
    assert message in done.stdout + done.stderr
    assert "passed" not in done.stdout
