"""django-silk as configured for Thaiyyal: what it records, what it hides, who sees it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from silk.config import SilkyConfig
from silk.models import Request

from tests.observability.workflows import ADD, slow
from workflows.silk_hooks import IGNORED_QUERIES, should_profile, should_record

pytestmark = pytest.mark.django_db
EXECUTE = "/api/v1/workflow/execute"


def silk_settings(percent: int) -> override_settings:
    """What thaiyyal/settings.py sets when THAIYYAL_SILK=1."""
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "workflows.silk_middleware.SilkMiddleware")
    return override_settings(
        THAIYYAL_SILK=True, MIDDLEWARE=middleware, ROOT_URLCONF="tests.observability.silk_urls",
        SILKY_INTERCEPT_FUNC=should_record, SILKY_PYTHON_PROFILER_FUNC=should_profile,
        SILKY_MIDDLEWARE_CLASS="workflows.silk_middleware.SilkMiddleware",
        SILKY_IGNORE_QUERIES=IGNORED_QUERIES, SILKY_INTERCEPT_PERCENT=percent)


@pytest.fixture
def silk_on() -> Iterator[None]:
    with silk_settings(100):
        SilkyConfig()._setup()  # silk reads its settings once; re-read them
        yield
    SilkyConfig()._setup()


@pytest.fixture
def silk_sampling_nothing() -> Iterator[None]:
    with silk_settings(0):
        SilkyConfig()._setup()
        yield
    SilkyConfig()._setup()


def test_a_slow_execute_request_appears_in_silk_with_its_sql_queries(silk_on, api):
    response = api.post(EXECUTE, slow(300), format="json")
    assert response.status_code == 200
    recorded = Request.objects.get(path=EXECUTE)
    assert recorded.method == "POST"
    assert recorded.time_taken >= 300  # milliseconds
    queries = [q.query for q in recorded.queries.all()]
    assert recorded.num_sql_queries == len(queries)
    # The run and its node run, as written by the platform, with their time.
    assert any(q.startswith('INSERT INTO "workflows_run"') for q in queries), queries
    assert any(q.startswith('INSERT INTO "workflows_noderun"') for q in queries), queries
    assert all(q.time_taken is not None for q in recorded.queries.all())
    # The token lookup carries the API key: it is not stored.
    token = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert not any(token in q for q in queries)
    assert recorded.response.status_code == 200


def test_silk_masks_credentials_in_headers_and_bodies(silk_on, api):
    payload = {**ADD, "password": "hunter2", "meta": {"api_key": "k-123", "secret": "s-9"}}
    api.post(EXECUTE, payload, format="json")
    recorded = Request.objects.get(path=EXECUTE)
    assert "Token " not in recorded.encoded_headers  # Authorization is masked
    for value in ("hunter2", "k-123", "s-9"):
        assert value not in recorded.body
        assert value not in recorded.raw_body
    assert "****" in recorded.body


def test_large_bodies_are_not_stored(silk_on, api):
    big = {**ADD, "padding": "x" * (settings.SILKY_MAX_REQUEST_BODY_SIZE + 1000)}
    api.post(EXECUTE, big, format="json")
    recorded = Request.objects.get(path=EXECUTE)
    assert "xxxx" not in recorded.raw_body


def test_sampling_skips_requests_but_staff_can_ask_for_a_profiled_recording(
        silk_sampling_nothing, api, staff_api):
    api.post(EXECUTE, ADD, format="json")
    api.post(EXECUTE, ADD, format="json", HTTP_X_SILK_PROFILE="1")  # not staff: ignored
    assert not Request.objects.exists()
    staff_api.post(EXECUTE, ADD, format="json", HTTP_X_SILK_PROFILE="1")
    recorded = Request.objects.get(path=EXECUTE)
    assert "execute" in recorded.pyprofile  # cProfile's report of this request


def test_scrapes_probes_and_profiling_pages_are_never_recorded(silk_on, staff_api):
    staff_api.get("/metrics")
    staff_api.get("/healthz")
    assert not Request.objects.exists()


def test_silk_pages_are_for_staff_only(silk_on, client, api, staff_session, user):
    api.post(EXECUTE, ADD, format="json")
    anonymous = client.get("/silk/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")
    client.force_login(user)
    assert client.get("/silk/").status_code == 403
    assert staff_session.get("/silk/").status_code == 200
    assert staff_session.get("/silk/requests/").status_code == 200


def test_silk_gc_keeps_the_newest_and_drops_the_old(silk_on):
    now = timezone.now()
    for age_days in (0, 0, 1, 2, 10, 30):
        Request.objects.create(path="/x", method="GET",
                               start_time=now - timedelta(days=age_days, seconds=1))
    call_command("silk_gc", keep=4, older_than="7d", stdout=open("/dev/null", "w"))
    ages = sorted((now - r.start_time).days for r in Request.objects.all())
    assert ages == [0, 0, 1, 2]
    call_command("silk_gc", keep=1, older_than="0", stdout=open("/dev/null", "w"))
    assert Request.objects.count() == 1


def test_the_real_settings_mount_silk_when_it_is_switched_on(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, THAIYYAL_SILK="1", THAIYYAL_PPROF="1", THAIYYAL_VAR_DIR=str(tmp_path),
               DJANGO_SETTINGS_MODULE="thaiyyal.settings", SECRET_KEY="s" * 50,
               THAIYYAL_HTTPS="0")
    code = ("from django.conf import settings; from django.urls import resolve; "
            "print(resolve('/silk/').namespace, settings.MIDDLEWARE.index("
            "'workflows.silk_middleware.SilkMiddleware') > settings.MIDDLEWARE.index("
            "'django.contrib.auth.middleware.AuthenticationMiddleware'))")
    done = subprocess.run([str(Path(sys.executable).parent / "thaiyyal"), "manage", "shell",
                           "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["silk", "True"]
