"""`prune_runs`: bound the run history by age and by count per workflow; then purge what
no longer has a use: deleted workflows no run references, expired idempotency keys."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows.maintenance import prune_idempotency_keys, prune_runs, purge_deleted_workflows


class Command(BaseCommand):
    help = ("Delete finished runs (with their node runs) older than --days and/or beyond the "
            "newest --keep of each workflow, in chunks (each its own short transaction); then "
            "workflows deleted more than a day ago that no run references, and idempotency "
            "keys older than 24 hours.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None,
                            help="delete runs started more than this many days ago")
        parser.add_argument("--keep", type=int, default=None,
                            help="keep only this many newest runs per workflow "
                                 "(ad-hoc runs count as one workflow)")
        parser.add_argument("--chunk-size", type=int, default=1000,
                            help="runs deleted per transaction (default 1000)")

    def handle(self, *args: Any, days: int | None = None, keep: int | None = None,
               chunk_size: int = 1000, **options: Any) -> None:
        if days is None and keep is None:
            raise CommandError("give --days N and/or --keep N")
        for name, value in (("--days", days), ("--keep", keep), ("--chunk-size", chunk_size)):
            if value is not None and value < (1 if name == "--chunk-size" else 0):
                raise CommandError(f"{name} must not be negative")
        deleted = prune_runs(older_than_days=days, keep_per_workflow=keep,
                             chunk_size=chunk_size)
        self.stdout.write(f"{deleted} run(s) deleted")
        purged = purge_deleted_workflows(chunk_size=chunk_size)
        self.stdout.write(f"{purged} deleted workflow(s) purged")
        keys = prune_idempotency_keys(chunk_size=chunk_size)
        self.stdout.write(f"{keys} expired idempotency key(s) deleted")
