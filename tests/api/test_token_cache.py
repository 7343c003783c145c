"""Token authentication without a query per request (workflows/api/authentication.py): a
token verified within THAIYYAL_AUTH_CACHE_SECONDS costs no database statement; one
revoked where this process cannot see it (another worker, the database directly) stops
working once that window has passed; one revoked in this process stops at once; 0 turns
the memory off."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db
VALIDATE = "/api/v1/workflow/validate"
BODY = {"nodes": [{"id": "a", "type": "number", "data": {"value": 1}}], "edges": []}


def token_lookups(client) -> tuple[int, int]:
    """(status, statements that read the token table) of one authenticated request."""
    with CaptureQueriesContext(connection) as capture:
        response = client.post(VALIDATE, BODY, format="json")
    return response.status_code, sum("authtoken_token" in q["sql"]
                                     for q in capture.captured_queries)


def revoke_unseen(user) -> None:
    """Delete the user's token the way another process would: no signal reaches us."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM authtoken_token WHERE user_id = %s", [user.pk])


def test_a_token_verified_within_the_window_costs_no_query(api, settings):
    settings.THAIYYAL_AUTH_CACHE_SECONDS = 10
    assert token_lookups(api) == (200, 1)
    assert token_lookups(api) == (200, 0)
    assert token_lookups(api) == (200, 0)


def test_a_token_revoked_elsewhere_stops_working_once_the_window_has_passed(api, user,
                                                                            settings):
    settings.THAIYYAL_AUTH_CACHE_SECONDS = 1
    assert token_lookups(api) == (200, 1)
    revoke_unseen(user)
    assert token_lookups(api)[0] == 200  # within the window: the documented delay
    time.sleep(1.1)
    assert token_lookups(api) == (401, 1)


def test_zero_checks_the_database_on_every_request(api, user, settings):
    settings.THAIYYAL_AUTH_CACHE_SECONDS = 0
    assert token_lookups(api) == (200, 1)
    assert token_lookups(api) == (200, 1)
    revoke_unseen(user)
    assert token_lookups(api) == (401, 1)


def test_a_token_deleted_in_this_process_stops_working_at_once(api, user, settings):
    settings.THAIYYAL_AUTH_CACHE_SECONDS = 3600
    assert token_lookups(api)[0] == 200
    Token.objects.get(user=user).delete()  # what the admin and the API do
    assert token_lookups(api)[0] == 401


def test_a_user_deactivated_in_this_process_is_refused_at_once(api, user, settings):
    settings.THAIYYAL_AUTH_CACHE_SECONDS = 3600
    assert token_lookups(api)[0] == 200
    user.is_active = False
    user.save()
    assert token_lookups(api)[0] == 401


def test_a_token_deleted_through_the_admin_stops_working_at_once(api, user, staff_user,
                                                                 client, settings):
    settings.THAIYYAL_AUTH_CACHE_SECONDS = 3600
    staff_user.is_superuser = True
    staff_user.save()
    assert token_lookups(api)[0] == 200
    client.force_login(staff_user)
    # DRF's admin names a token by its user's id
    response = client.post(f"/admin/authtoken/tokenproxy/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content[:300]
    assert not Token.objects.filter(user=user).exists()
    assert token_lookups(api)[0] == 401


def test_a_request_that_changes_its_user_does_not_change_the_next_ones(api, user,
                                                                       settings):
    from workflows.api.authentication import remembered_tokens

    settings.THAIYYAL_AUTH_CACHE_SECONDS = 10
    assert token_lookups(api)[0] == 200
    key = Token.objects.get(user=user).key
    first = remembered_tokens.recall(key, 10)
    assert first is not None
    from workflows.api.authentication import OutageTolerantTokenAuthentication

    lent, _ = OutageTolerantTokenAuthentication().authenticate_credentials(key)
    lent.username = "changed"
    again, _ = OutageTolerantTokenAuthentication().authenticate_credentials(key)
    assert again.username == user.username
