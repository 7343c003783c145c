"""A webhook's secret is its URL's last part: real gunicorn's access log leaves it out of
the request line, and silk never records a webhook request."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from tests.api.conftest import GREETING
from tests.platform.serving import database_url, serve, server_environment
from thaiyyal.access_log import redact_path
from workflows import services
from workflows.silk_hooks import should_record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_the_access_log_leaves_webhook_secrets_out_of_the_request_line(
        django_user_model, tmp_path):
    owner = django_user_model.objects.create_user("hooker", password="hooker-password-1")
    workflow = services.create_workflow(owner=owner, name="hooked", definition=GREETING)
    secret = services.rotate_webhook_secret(workflow)
    unknown = "u" * 43
    env = server_environment(database_url(connection.settings_dict), tmp_path / "var")
    with serve(env, tmp_path / "server.log", "--workers", "1") as server:
        status, answer = server.request("POST", f"/api/v1/hooks/{secret}", body={"name": "x"})
        assert status == 200, answer
        assert server.request("POST", f"/api/v1/hooks/{unknown}?a=1", body={})[0] == 404
        assert server.request("GET", "/api/v1/node-types/")[0] == 401
        time.sleep(0.5)  # the access log line is written after the answer
        log = server.output()

    assert '"POST /api/v1/hooks/<secret> HTTP/1.1" 200' in log, log[-2000:]
    assert '"POST /api/v1/hooks/<secret>?a=1 HTTP/1.1" 404' in log, log[-2000:]
    assert '"GET /api/v1/node-types/ HTTP/1.1" 401' in log  # other lines as they were
    assert secret not in log
    assert unknown not in log


def test_webhook_paths_are_redacted_and_never_recorded_by_silk(rf):
    assert redact_path("POST /api/v1/hooks/abc_DEF-123 HTTP/1.1") == \
        "POST /api/v1/hooks/<secret> HTTP/1.1"
    assert redact_path("/api/v1/hooks/abc/") == "/api/v1/hooks/<secret>/"
    assert redact_path("/api/v1/workflows/") == "/api/v1/workflows/"
    request = rf.post("/api/v1/hooks/" + "s" * 43, HTTP_X_SILK_PROFILE="1")
    assert should_record(request) is False
