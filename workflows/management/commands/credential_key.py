"""Print a new Fernet key for THAIYYAL_CREDENTIAL_KEYS.

    thaiyyal manage credential_key
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workflows.secrets import new_key


class Command(BaseCommand):
    help = "Print a new key for THAIYYAL_CREDENTIAL_KEYS (put it first to rotate)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(new_key())
