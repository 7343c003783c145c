"""Delete old silk recordings out of band (cron, a Kubernetes CronJob), never in requests.

    python manage.py silk_gc --keep 10000 --older-than 7d
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from engine.limits import parse_duration

CHUNK = 500


class Command(BaseCommand):
    help = "Delete silk's recorded requests beyond the newest --keep or older than --older-than."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep", type=int, default=10_000,
                            help="newest requests to keep (default 10000)")
        parser.add_argument("--older-than", default="7d",
                            help="also delete requests older than this (e.g. 12h, 7d; "
                                 "'0' disables the age rule)")

    def handle(self, *args: Any, keep: int, older_than: str, **options: Any) -> None:
        from silk.models import Request

        if keep < 0:
            raise CommandError("--keep must be >= 0")
        cutoff = None
        if older_than not in ("0", ""):
            try:
                cutoff = timezone.now() - timedelta(seconds=_seconds(older_than))
            except ValueError as exc:
                raise CommandError(f"--older-than: {exc}") from None
        rules = []
        # The first request not kept, in newest-first order (ties broken by id), and every
        # one after it.
        beyond = Request.objects.order_by("-start_time", "-id").values_list(
            "start_time", "id")[keep:keep + 1]
        for start, rid in beyond:
            rules.append(Q(start_time__lt=start) | Q(start_time=start, id__lte=rid))
        if cutoff is not None:
            rules.append(Q(start_time__lt=cutoff))
        deleted = 0
        for rule in rules:
            while True:  # in chunks: short transactions, bounded memory
                ids = list(Request.objects.filter(rule).values_list("id", flat=True)[:CHUNK])
                if not ids:
                    break
                deleted += Request.objects.filter(id__in=ids).delete()[1].get("silk.Request", 0)
        self.stdout.write(f"deleted {deleted} silk requests; "
                          f"{Request.objects.count()} kept")


def _seconds(text: str) -> float:
    if text.endswith("d") and text[:-1].isdigit():
        return int(text[:-1]) * 86_400.0
    return parse_duration(text)
