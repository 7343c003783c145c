"""`reap_runs`: mark `running` runs whose worker is gone as `interrupted`, and `queued`
runs no worker took within THAIYYAL_QUEUE_STALE_SECONDS as `failed` (`queue_lost`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows.maintenance import reap_interrupted
from workflows.models import RunStatus


class Command(BaseCommand):
    help = ("Mark runs left `running` by a worker that died (killed, out of memory, "
            "restarted) as `interrupted`. Runs at server start too.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grace", type=int, default=None, metavar="SECONDS",
                            help="how long past its time limit a run on another host may "
                                 "still be running (default THAIYYAL_REAP_GRACE_SECONDS)")

    def handle(self, *args: Any, grace: int | None = None, **options: Any) -> None:
        reaped = reap_interrupted(grace_seconds=grace)
        interrupted = [run for run in reaped if run.status == RunStatus.INTERRUPTED]
        for run in interrupted:
            self.stdout.write(f"interrupted {run.id} (worker {run.worker_pid} on "
                              f"{run.worker_host})")
        lost = [run for run in reaped if run.status != RunStatus.INTERRUPTED]
        for run in lost:
            self.stdout.write(f"queue_lost {run.id} (queued at {run.queued_at})")
        self.stdout.write(f"{len(interrupted)} run(s) marked interrupted")
        if lost:
            self.stdout.write(f"{len(lost)} queued run(s) no worker took marked failed")
