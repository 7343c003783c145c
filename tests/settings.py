"""Settings for the test suite: the product's settings, read from a test environment.

DATABASE_URL decides the database as in production (CI: a fresh PostgreSQL database);
without it, SQLite in a file of this process's own, so servers started by tests share it.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret-" + "k" * 40)
os.environ.setdefault("THAIYYAL_HTTPS", "0")

from thaiyyal.settings import *  # noqa: E402,F403
from thaiyyal.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests that need the `running` row committed by the timer lower this themselves (with a
# transactional database): inside a test's transaction another thread cannot write.
THAIYYAL_RUNNING_ROW_AFTER_MS = 600_000

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"thaiyyal-test-{os.getpid()}.sqlite3"),
    }
