"""Credentials in queued runs: the worker resolves them itself (the broker carries a run
id, never a secret), sends them where they belong, and after queued runs, webhook runs and
callbacks the secret is in no message, row, answer, callback body or log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

import workflows.tasks  # noqa: F401 - registers the tasks
from tests.security.test_credentials import stored_and_logged
from thaiyyal.celeryconf import app
from workflows import services
from workflows.models import Run, RunStatus

pytestmark = pytest.mark.django_db

TOKEN = "qB7tY2wN9xK4c0de"
KEY = "aP5mL8rS3vD6k1ey"
SECRETS = (TOKEN, KEY)
ASYNC = {"HTTP_PREFER": "respond-async"}


@pytest.fixture
def loopback_allowed(http_server: Any) -> Iterator[None]:
    with override_settings(THAIYYAL_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32"]):
        yield


def _uses_credentials(fail: bool = False) -> dict[str, Any]:
    return {"nodes": [
        {"id": "a", "type": "http", "data": {"url": "/json", "credential": "bearer"}},
        {"id": "b", "type": "http",
         "data": {"url": "/status?code=500" if fail else "/json",
                  "http_client_uid": "key"}}],
        "edges": [{"source": "a", "target": "b"}]}


def test_after_queued_runs_that_used_credentials_the_secret_is_nowhere(
        api: Any, user: Any, queue: Any, http_server: Any, loopback_allowed: None,
        caplog: Any, capfd: Any) -> None:
    caplog.set_level(logging.DEBUG)
    for body in ({"name": "bearer", "kind": "bearer", "token": TOKEN},
                 {"name": "key", "kind": "api_key", "api_key": KEY, "header": "X-Api-Key"}):
        created = api.post("/api/v1/credentials/", {"base_url": http_server.origin, **body},
                           format="json")
        assert created.status_code == 201, created.content
    stored = services.create_workflow(owner=user, name="stored", definition=_uses_credentials())
    services.update_workflow(stored, user=None, execution_mode="async")
    hook = services.rotate_webhook_secret(stored)
    callback = http_server.url("/echo")

    answers = [
        api.post(f"/api/v1/workflow/execute?callback_url={callback}", _uses_credentials(),
                 format="json", **ASYNC),
        api.post("/api/v1/workflow/execute", _uses_credentials(fail=True), format="json",
                 **ASYNC),
        api.post(f"/api/v1/workflows/{stored.pk}/execute", {"callback_url": callback},
                 format="json"),
        APIClient().post(f"/api/v1/hooks/{hook}", {}, format="json"),
    ]
    assert [a.status_code for a in answers] == [202] * 4, [a.content[:300] for a in answers]

    # The broker's messages, as a worker takes them; each run here, in this process.
    messages = []
    for _ in range(4):
        name, task_id, args, body = queue.take()
        messages.append(body.decode())
        app.tasks[name].apply(args=args, task_id=task_id).get()
    statuses = sorted(Run.objects.values_list("status", flat=True))
    assert statuses == [RunStatus.FAILED] + [RunStatus.SUCCEEDED] * 3
    # the two callbacks were queued as messages too: deliver them
    for _ in range(2):
        name, task_id, args, body = queue.take()
        assert name == "thaiyyal.deliver_callback"
        messages.append(body.decode())
        app.tasks[name].apply(args=args, task_id=task_id).get()
    assert queue.depth() == 0

    # The secrets went where they belong, from the worker's own lookup.
    sent = [r.headers for r in http_server.requests if r.path in ("/json", "/status")]
    assert sum(h.get("authorization") == f"Bearer {TOKEN}" for h in sent) == 4
    assert sum(h.get("x-api-key") == KEY for h in sent) == 4
    callbacks = [r for r in http_server.requests if r.path == "/echo"]
    assert len(callbacks) == 2

    places = {f"message {i}": m for i, m in enumerate(messages)}
    places |= {f"callback body {i}": r.body.decode(errors="replace")
               for i, r in enumerate(callbacks)}
    places |= {f"callback headers {i}": repr(r.headers) for i, r in enumerate(callbacks)}
    places |= {f"answer {i}": a.content.decode() for i, a in enumerate(answers)}
    for run in Run.objects.all():
        places[f"run {run.pk}"] = api.get(f"/api/v1/runs/{run.pk}").content.decode()
    places |= stored_and_logged(caplog, capfd)
    for where, text in places.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} found in {where}"
    # The search can fail: the messages name the runs, and the server's record holds them.
    assert all(str(run.pk) in "".join(messages) for run in Run.objects.all())
    assert TOKEN in repr(sent)
