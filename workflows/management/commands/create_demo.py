"""`create_demo`: a demo user (password and API token shown once) and a demo workflow."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from engine import PayloadError
from workflows import services
from workflows.models import Workflow

DEMO_FILE = Path(settings.BASE_DIR) / "examples" / "demo.json"


class Command(BaseCommand):
    help = ("Create a demo user (staff, for the admin) with an API token, and load a demo "
            "workflow. The password and token are printed when created, never again: "
            "--reset makes new ones. For local use, not production.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--file", default=str(DEMO_FILE), help="workflow JSON to load")
        parser.add_argument("--name", default="Demo: order total")
        parser.add_argument("--reset", action="store_true",
                            help="give the existing user a new password and token")
        parser.add_argument("--reload", action="store_true",
                            help="load the file again as a new version of an existing demo "
                                 "workflow (without it, your changes to it are kept)")
        parser.add_argument("--url", default="http://127.0.0.1:8080",
                            help="the server's address, for the example printed")

    def handle(self, *args: Any, username: str, file: str, name: str, reset: bool,
               reload: bool, url: str, **options: Any) -> None:
        try:
            definition = json.loads(Path(file).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(
                username=username, defaults={"is_staff": True, "is_superuser": True})
            password = token = None
            if created or reset:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.save()
                Token.objects.filter(user=user).delete()
                token = Token.objects.create(user=user).key
            workflow = self._workflow(user, name, definition, reload)
        self._report(username, password, token, workflow, url.rstrip("/"))

    def _workflow(self, user: Any, name: str, definition: Any, reload: bool) -> Workflow:
        existing = Workflow.objects.filter(owner=user, name=name).first()
        try:
            if existing is None:
                return services.create_workflow(owner=user, name=name, definition=definition,
                                                description="Loaded by create_demo.")
            # `make run` calls this every time: what the user changed stays as it is.
            if reload:
                services.update_workflow(existing, user=user, definition=definition)
        except PayloadError as exc:
            raise CommandError(f"the demo workflow is invalid: {exc}") from None
        return existing

    def _report(self, username: str, password: str | None, token: str | None,
                workflow: Workflow, url: str) -> None:
        out = self.stdout.write
        if password is None:
            out(f"Demo user {username!r} already exists; its password and token were shown "
                "when it was created (create_demo --reset makes new ones).")
        else:
            out(self.style.SUCCESS("Demo user created. Shown once, keep them:"))
            out(f"  username:  {username}")
            out(f"  password:  {password}")
            out(f"  API token: {token}")
        out(f"Demo workflow {workflow.name!r}: id {workflow.pk}, "
            f"version {workflow.current_version.number if workflow.current_version else '-'}")
        shown = token or "<your token>"
        out("Try it:")
        out(f"  curl -s -X POST -H 'Authorization: Token {shown}' "
            f"-H 'Content-Type: application/json' -d '{{\"inputs\": {{\"quantity\": 5}}}}' "
            f"{url}/api/v1/workflows/{workflow.pk}/execute")
        out(f"Admin: {url}/admin/ (user {username!r})")
