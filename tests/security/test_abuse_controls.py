"""Abuse controls: refused tokens count against the anonymous rate (429 past it), admin
logins lock out after repeated failures per username and address, and per address at a
higher limit (django-axes), and a user's runs in flight are
capped (429 + Retry-After)."""

from __future__ import annotations

import threading
import time

import pytest
from axes.models import AccessAttempt
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import ADD, token_client

SLOW = {"nodes": [{"id": "start", "type": "number", "data": {"value": 1}},
                  {"id": "wait", "type": "delay", "data": {"duration": "1500ms"}}],
        "edges": [{"source": "start", "target": "wait"}]}


@pytest.mark.django_db
def test_200_requests_with_a_bad_token_are_throttled_like_anonymous_ones():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    started = time.monotonic()
    statuses = [client.get("/api/v1/workflows/").status_code for _ in range(200)]
    took = time.monotonic() - started

    # The anonymous rate is 60/min: 60 at once, then one a second (GCRA). The 61st refused
    # token is answered 429 unless a second has passed; the rest are 429 but for one more
    # each second the 200 requests took (a loaded machine can take several).
    assert statuses[:60] == [401] * 60
    assert set(statuses[60:]) <= {401, 429}
    assert statuses[60:].count(401) <= int(took) + 1, (took, statuses)
    assert statuses[60:].count(429) >= 140 - int(took) - 1
    response = client.get("/api/v1/workflows/")
    assert int(response["Retry-After"]) > 0
    assert response.json()["success"] is False


@pytest.mark.django_db
def test_a_good_token_from_another_address_is_not_held_back_by_someone_elses_guesses(user):
    guesser = APIClient(REMOTE_ADDR="10.9.9.9")
    guesser.credentials(HTTP_AUTHORIZATION="Token " + "1" * 40)
    for _ in range(80):
        guesser.get("/api/v1/workflows/")
    assert guesser.get("/api/v1/workflows/").status_code == 429

    assert token_client(user).get("/api/v1/workflows/").status_code == 200


@pytest.mark.django_db
def test_admin_login_locks_out_after_five_failures_even_for_the_right_password(staff_user):
    url = "/admin/login/?next=/admin/"
    failures = [APIClient().post(url, {"username": "sam", "password": f"wrong-{i}"}).status_code
                for i in range(5)]
    assert failures[:4] == [200] * 4  # the form again, with an error
    assert failures[4] == 429

    locked = APIClient().post(url, {"username": "sam", "password": "sam-password-1"})
    assert locked.status_code == 429
    assert "sessionid" not in locked.cookies
    attempt = AccessAttempt.objects.get(username="sam")
    assert attempt.failures_since_start == 6  # the locked-out try counts too
    assert "wrong-" not in attempt.post_data  # passwords are not recorded
    assert "sam-password-1" not in attempt.post_data


@pytest.mark.django_db
def test_a_successful_admin_login_before_the_limit_resets_the_count(staff_user):
    url = "/admin/login/?next=/admin/"
    for i in range(3):
        APIClient().post(url, {"username": "sam", "password": f"wrong-{i}"})
    ok = APIClient().post(url, {"username": "sam", "password": "sam-password-1"})
    assert ok.status_code == 302
    for i in range(4):
        assert APIClient().post(url, {"username": "sam", "password": f"x{i}"}).status_code == 200


@pytest.mark.django_db
def test_one_address_trying_many_usernames_is_locked_at_the_address_limit(staff_user):
    url = "/admin/login/?next=/admin/"
    sprayer = [APIClient().post(url, {"username": f"user{i}", "password": "Summer2026!"}
                                ).status_code for i in range(20)]
    # 20 usernames, one try each: no pair reaches 5, the address reaches its 20
    assert sprayer[:19] == [200] * 19
    assert sprayer[19] == 429
    # the address is locked for every username, even with the right password ...
    locked = APIClient().post(url, {"username": "sam", "password": "sam-password-1"})
    assert locked.status_code == 429
    # ... and only that address
    elsewhere = APIClient(REMOTE_ADDR="10.20.30.40").post(
        url, {"username": "sam", "password": "sam-password-1"})
    assert elsewhere.status_code == 302


@pytest.mark.django_db
@override_settings(THAIYYAL_LOGIN_ADDRESS_FAILURE_LIMIT=8)
def test_a_successful_login_does_not_clear_its_addresss_failures_on_other_usernames(
        staff_user):
    url = "/admin/login/?next=/admin/"
    for i in range(6):
        assert APIClient().post(url, {"username": f"u{i}", "password": "x"}).status_code == 200
    assert APIClient().post(url, {"username": "sam",
                                  "password": "sam-password-1"}).status_code == 302
    assert APIClient().post(url, {"username": "u6", "password": "x"}).status_code == 200
    assert APIClient().post(url, {"username": "u7", "password": "x"}).status_code == 429


@pytest.mark.django_db
def test_axes_reset_lifts_a_lockout(staff_user):
    from django.core.management import call_command

    url = "/admin/login/?next=/admin/"
    for i in range(5):
        APIClient().post(url, {"username": "sam", "password": f"wrong-{i}"})
    assert APIClient().post(url, {"username": "sam",
                                  "password": "sam-password-1"}).status_code == 429
    call_command("axes_reset", verbosity=0)
    assert not AccessAttempt.objects.exists()
    assert APIClient().post(url, {"username": "sam",
                                  "password": "sam-password-1"}).status_code == 302


@pytest.mark.django_db(transaction=True)
@override_settings(THAIYYAL_MAX_RUNS_IN_FLIGHT=1)
def test_a_users_second_run_in_flight_past_the_cap_is_429_with_retry_after(user, other_user):
    first: dict[str, int] = {}

    def slow_run() -> None:
        first["status"] = token_client(user).post(
            "/api/v1/workflow/execute", SLOW, format="json").status_code
        connection.close()  # this thread's own connection

    thread = threading.Thread(target=slow_run)
    thread.start()
    time.sleep(0.5)  # the slow run is in its delay
    second = token_client(user).post("/api/v1/workflow/execute", ADD, format="json")
    someone_else = token_client(other_user).post("/api/v1/workflow/execute", ADD, format="json")
    thread.join(10)

    assert second.status_code == 429, second.content
    assert second["Retry-After"] == "1"
    assert "at most 1 at once" in second.json()["error"]
    assert someone_else.status_code == 200
    assert first["status"] == 200
    # The slot is given back when the run ends.
    assert token_client(user).post("/api/v1/workflow/execute", ADD,
                                   format="json").status_code == 200


@pytest.mark.django_db
def test_a_made_up_x_forwarded_for_does_not_escape_the_anonymous_rate():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    statuses = [client.get("/api/v1/workflows/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
                           ).status_code for i in range(80)]
    assert statuses[:60] == [401] * 60
    assert set(statuses[60:]) == {429}


@pytest.mark.django_db
def test_behind_one_proxy_the_address_it_appended_is_the_one_counted(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    # the client sends a made-up first entry; the proxy appends the address it saw
    one = [client.get("/api/v1/workflows/", HTTP_X_FORWARDED_FOR=f"1.1.1.{i}, 10.0.0.1"
                      ).status_code for i in range(61)]
    assert one[-1] == 429
    other = client.get("/api/v1/workflows/", HTTP_X_FORWARDED_FOR="1.1.1.1, 10.0.0.2")
    assert other.status_code == 401
