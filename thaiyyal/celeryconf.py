"""The one Celery app (queue mode), configured from Django's settings (`CELERY_*`, the
broker from THAIYYAL_BROKER_URL). `thaiyyal worker` and `thaiyyal scheduler` run it;
the web tier only publishes to it (workflows/queueing.py)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "thaiyyal.settings")

app = Celery("thaiyyal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workflows"])
# Celery's Django fixup closes the database (and its connection pool) after every task
# unless told to reuse it: with a pool, closing a connection already returns it, and
# closing the pool would pull connections from under the process's watcher threads.
app.conf.update({"CELERY_DB_REUSE_MAX": 1_000_000})


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    """The worker's main process reaps like a web worker does (one at a time across the
    site, under the advisory lock): a run whose pool process died is marked
    `interrupted` even where no web server runs on the host."""
    from workflows.maintenance import reaper

    reaper.start()
