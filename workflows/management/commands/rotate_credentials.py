"""Re-encrypt every stored credential with the first THAIYYAL_CREDENTIAL_KEYS key.

    thaiyyal manage rotate_credentials

Run it after putting a new key first; once it reports no failures, the old keys can be
removed from the variable. A credential no configured key can decrypt is reported by id
and name (never its secret) and left as it is.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from workflows import secrets
from workflows.models import Credential


class Command(BaseCommand):
    help = "Re-encrypt every credential with the first key of THAIYYAL_CREDENTIAL_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated, unreadable = 0, []
        for pk in Credential.objects.order_by("pk").values_list("pk", flat=True).iterator():
            with transaction.atomic():
                credential = Credential.objects.select_for_update().get(pk=pk)
                try:
                    credential.encrypted = secrets.rotate(credential.encrypted)
                except secrets.InvalidToken:
                    unreadable.append(f"{credential.pk} ({credential.name})")
                    continue
                credential.save(update_fields=["encrypted"])
                rotated += 1
        self.stdout.write(f"re-encrypted {rotated} credential(s)")
        if unreadable:
            raise CommandError("no configured key decrypts: " + ", ".join(unreadable))
