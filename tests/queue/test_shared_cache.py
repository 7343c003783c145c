"""The response cache shared through Redis (THAIYYAL_REDIS_URL): concurrent misses for
one URL fetch it once, whichever process (here: cache client) they come from."""

from __future__ import annotations

import os
import secrets
import threading
from typing import Any

import pytest
from django.core.cache.backends.redis import RedisCache

import engine
from engine.egress import EgressPolicy
from tests.httpserver import LoopbackHTTPServer
from workflows.shared_cache import SharedResponseCache

REDIS_URL = os.environ.get("THAIYYAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_cache() -> RedisCache:
    """A fresh client (as another process would have) under a key prefix of this test."""
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": f"thaiyyal-test-{secrets.token_hex(4)}",
                                   "OPTIONS": {"socket_connect_timeout": 1}})
    try:
        cache.get("ping")
    except Exception as exc:  # noqa: BLE001 - whatever redis-py raises for "not there"
        reason = f"Redis is unreachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI") or os.environ.get("THAIYYAL_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return cache


def test_a_second_miss_waits_for_the_first_fetch_and_gets_its_entry(redis_cache: Any) -> None:
    first, second = SharedResponseCache(redis_cache), SharedResponseCache(redis_cache)
    assert first.get("k") is None  # first miss: ours to fetch
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(second.get("k")))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # waiting for the fetch, not fetching itself
    first.set("k", {"body": "fetched once"}, ttl=60)
    waiter.join(5)
    assert got == [{"body": "fetched once"}]


def test_a_failed_fetch_lets_the_waiters_fetch(redis_cache: Any) -> None:
    first, second = SharedResponseCache(redis_cache), SharedResponseCache(redis_cache)
    assert first.get("k") is None
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(second.get("k")))
    waiter.start()
    first.release("k")
    waiter.join(5)
    assert got == [None]  # its own turn to fetch, at once


def test_concurrent_runs_fetch_a_cached_url_once(redis_cache: Any,
                                                 http_server: LoopbackHTTPServer,
                                                 loopback_policy: EgressPolicy) -> None:
    payload = {"nodes": [{"id": "fetch", "type": "http", "data": {
        "url": http_server.url("/slow?delay=0.5"), "cache": True}}], "edges": []}
    workflow = engine.Workflow.load(payload)
    results: list[Any] = []

    def run() -> None:
        services = {"egress_policy": loopback_policy,
                    "response_cache": SharedResponseCache(redis_cache)}
        results.append(workflow.execute(services=services))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [r.status for r in results] == ["succeeded"] * 4
    assert http_server.hits("/slow") == 1
