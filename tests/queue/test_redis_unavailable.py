"""Redis away (THAIYYAL_REDIS_URL set, Redis down or cut off): the throttles, the
runs-in-flight cap and the response cache fall back to per-process counts and entries
(workflows/fallback_cache.py) instead of turning requests into 500s, and go back to Redis
when it returns. The outage is real: a closed loopback port, or a cuttable TCP proxy in
front of the machine's Redis (tests/faultproxy.py)."""

from __future__ import annotations

import secrets
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.api.conftest import ADD
from tests.faultproxy import FaultProxy
from tests.httpserver import LoopbackHTTPServer
from tests.queue.test_shared_cache import REDIS_URL, redis_cache  # noqa: F401 - fixture
from workflows import fallback_cache
from workflows.api import inflight
from workflows.models import Run

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflow/execute"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def use_redis(settings: Any, url: str, rates: dict[str, str] | None = None) -> None:
    """The site's cache settings with THAIYYAL_REDIS_URL = `url` (what settings.py makes of
    it), and throttle rates low enough to reach."""
    settings.THAIYYAL_REDIS_URL = url
    settings.CACHES = {"default": {
        "BACKEND": "workflows.fallback_cache.RedisCacheWithFallback", "LOCATION": url,
        "KEY_PREFIX": f"thaiyyal-test-{secrets.token_hex(4)}",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2}}}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **(rates or {})}}


@pytest.fixture
def redis_proxy(redis_cache: Any) -> Iterator[FaultProxy]:  # noqa: F811 - the fixture
    """A cuttable proxy in front of the machine's Redis (skips or fails as redis_cache)."""
    target = urllib.parse.urlsplit(REDIS_URL)
    proxy = FaultProxy((target.hostname or "127.0.0.1", target.port or 6379)).start()
    yield proxy
    proxy.close()


def test_the_closed_port_really_is_an_outage_for_djangos_own_redis_cache() -> None:
    """What the fallback is for: Django's RedisCache raises on it (a 500 per request)."""
    plain = RedisCache(f"redis://127.0.0.1:{closed_port()}/0",
                       {"OPTIONS": {"socket_connect_timeout": 1}})
    with pytest.raises(RedisConnectionError):
        plain.get("anything")


def test_with_redis_down_execute_answers_and_the_throttle_counts_per_process(
        api: Any, settings: Any) -> None:
    use_redis(settings, f"redis://127.0.0.1:{closed_port()}/0", {"execute": "2/min"})

    statuses = [api.post(URL, ADD, format="json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert cache.redis_down
    assert Run.objects.count() == 2


def test_with_redis_down_the_runs_in_flight_cap_still_holds_per_process(
        api: Any, user: Any, settings: Any) -> None:
    use_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")
    settings.THAIYYAL_MAX_RUNS_IN_FLIGHT = 1

    with inflight.run_slot(user):  # a run of hers in flight
        refused = api.post(URL, ADD, format="json")
    allowed = api.post(URL, ADD, format="json")

    assert refused.status_code == 429
    assert "too many runs in flight" in refused.json()["error"]
    assert allowed.status_code == 200


def test_counts_go_back_to_redis_when_it_returns(
        api: Any, settings: Any, redis_proxy: FaultProxy, monkeypatch: Any) -> None:
    monkeypatch.setattr(fallback_cache, "RETRY_SECONDS", 0.3)  # Redis tried again soon
    use_redis(settings, f"redis://127.0.0.1:{redis_proxy.port}/0")
    cache.set("shared", "in redis")
    redis_proxy.cut("refuse")

    assert cache.get("shared") is None  # the local fallback: never saw it
    cache.set("local", "only here")
    assert cache.redis_down

    redis_proxy.restore()
    assert cache.get("shared") is None  # not tried again yet: still local
    time.sleep(0.4)
    assert cache.get("shared") == "in redis"
    assert not cache.redis_down
    assert cache.get("local") is None  # what was counted locally stays local


def test_with_redis_down_a_cached_http_node_fetches_instead_of_failing(
        api: Any, settings: Any, http_server: LoopbackHTTPServer) -> None:
    use_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")
    settings.THAIYYAL_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    payload = {"nodes": [{"id": "fetch", "type": "http", "data": {
        "url": http_server.url("/json"), "cache": True}}], "edges": []}

    answers = [api.post(URL, payload, format="json") for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json()["results"]["final_output"]["hello"] == "world"
    # the entry was kept in the process's fallback: the second run did not fetch
    assert http_server.hits("/json") == 1


def test_the_fallback_entries_are_the_processes_whatever_thread_reads_them(settings: Any) -> None:
    # Django gives each thread its own cache backend; http nodes run on the engine's pool
    # threads, so an entry one thread kept must be found by the next.
    import threading

    use_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")
    cache.set("kept", "by the main thread")
    seen: list[Any] = []
    reader = threading.Thread(target=lambda: seen.append(cache.get("kept")))
    reader.start()
    reader.join()
    assert seen == ["by the main thread"]
