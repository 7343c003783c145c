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

# Queue mode: off, as in `make run` (THAIYYAL_BROKER_URL unset). Tests that turn it on
# (tests/queue) override THAIYYAL_BROKER_URL; their messages then go to the machine's
# RabbitMQ, on a queue of this process's own (others may share the broker).
TEST_BROKER_URL = os.environ.get("THAIYYAL_TEST_BROKER_URL",
                                 "amqp://guest:guest@127.0.0.1:5672//")
CELERY_BROKER_URL = TEST_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = f"thaiyyal-test-{os.getpid()}"
