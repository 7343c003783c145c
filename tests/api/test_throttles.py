"""Rates by GCRA: N at once, then one per period/N, with an exact Retry-After, in one
float per key however many requests came before."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIRequestFactory

from workflows.api.throttles import AnonThrottle, ExecuteThrottle, UserThrottle, parse_rate


@pytest.fixture
def rates(settings):
    def set_rates(**rates: str) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates}}
    return set_rates


class _View:
    throttle_scope = "execute"


def _request(user=None):
    from django.contrib.auth.models import AnonymousUser

    request = APIRequestFactory().post("/api/v1/workflow/execute", REMOTE_ADDR="127.0.0.9")
    request.user = user or AnonymousUser()
    return request


def test_parse_rate_reads_drfs_syntax():
    assert parse_rate("60/min") == (60, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("20000/hour") == (20000, 3600)
    assert parse_rate("1/day") == (1, 86400)


def test_a_burst_of_n_passes_the_next_waits_one_interval_then_passes(rates):
    rates(anon="4/s")
    throttle = AnonThrottle()
    assert [throttle.allow_request(_request(), None) for _ in range(5)] == [True] * 4 + [False]
    assert 0.2 < throttle.wait() <= 0.25  # one interval (1 s / 4) from the burst's start
    time.sleep(throttle.wait() + 0.02)
    assert AnonThrottle().allow_request(_request(), None)
    assert not AnonThrottle().allow_request(_request(), None)


def test_the_count_is_one_float_per_key_whatever_came_before(rates):
    rates(anon="100000/min")
    throttle = AnonThrottle()
    for _ in range(2000):
        assert throttle.allow_request(_request(), None)
    stored = cache.get("throttle_anon_127.0.0.9")
    assert isinstance(stored, float)  # DRF's throttle would hold a list of 2,000 times


def test_users_are_counted_apart_and_execute_takes_the_views_scope(rates, user, other_user):
    rates(user="2/min", execute="1/min")
    assert UserThrottle().allow_request(_request(user), None)
    assert UserThrottle().allow_request(_request(user), None)
    assert not UserThrottle().allow_request(_request(user), None)
    assert UserThrottle().allow_request(_request(other_user), None)

    assert ExecuteThrottle().allow_request(_request(user), _View())
    refused = ExecuteThrottle()
    assert not refused.allow_request(_request(user), _View())
    assert 59 < refused.wait() <= 60
    # a view without a scope is not counted by the execute rate
    assert all(ExecuteThrottle().allow_request(_request(user), object()) for _ in range(3))


def test_a_scope_turned_off_is_not_throttled(rates):
    rates(anon=None)
    assert all(AnonThrottle().allow_request(_request(), None) for _ in range(100))
