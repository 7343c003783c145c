"""The HTTP response cache: the local TTL+LRU store, its keys, and the http node using it."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from engine import Limits, RecordingObserver, execute
from engine.cache import LocalResponseCache, cache_key, default_response_cache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sized:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


# -- LocalResponseCache -----------------------------------------------------------------


def test_get_returns_what_set_stored_until_the_ttl_passes():
    clock = Clock()
    cache = LocalResponseCache(clock=clock)
    assert cache.get("k") is None
    cache.set("k", "value", ttl=10)
    assert cache.get("k") == "value"
    clock.now += 9.9
    assert cache.get("k") == "value"
    clock.now += 0.2
    assert cache.get("k") is None
    assert len(cache) == 0


def test_least_recently_used_entry_goes_first_when_full():
    cache = LocalResponseCache(max_entries=2)
    cache.set("a", 1, 60)
    cache.set("b", 2, 60)
    assert cache.get("a") == 1  # a is now the most recent
    cache.set("c", 3, 60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_total_size_is_bounded_and_oversized_values_are_not_stored():
    cache = LocalResponseCache(max_bytes=1000)
    for i in range(5):
        cache.set(f"k{i}", Sized(300), 60)
    assert cache.nbytes <= 1000
    assert len(cache) == 3
    assert cache.get("k0") is None
    assert cache.get("k4") is not None
    cache.set("huge", Sized(5000), 60)
    assert cache.get("huge") is None
    assert len(cache) == 3  # a value that can never fit does not flush the others


def test_delete_removes_and_set_replaces():
    cache = LocalResponseCache()
    cache.set("k", Sized(10), 60)
    cache.set("k", Sized(20), 60)
    assert cache.nbytes == 20
    cache.delete("k")
    cache.delete("missing")
    assert cache.get("k") is None
    assert cache.nbytes == 0


def test_cache_stays_consistent_under_concurrent_use():
    cache = LocalResponseCache(max_entries=50, max_bytes=10_000)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(2000):
                key = f"k{rng.randrange(200)}"
                op = rng.random()
                if op < 0.5:
                    cache.set(key, Sized(rng.randrange(1, 400)), rng.choice([0.001, 60]))
                elif op < 0.9:
                    cache.get(key)
                else:
                    cache.delete(key)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) <= 50
    assert 0 <= cache.nbytes <= 10_000
    assert cache.nbytes == sum(e[1] for e in cache._entries.values())


# -- keys -------------------------------------------------------------------------------


def test_key_changes_with_everything_that_changes_the_response():
    base = cache_key("GET", "http://api.test/x?a=1", {"Accept": "application/json"}, None)
    variants = [
        cache_key("HEAD", "http://api.test/x?a=1", {"Accept": "application/json"}, None),
        cache_key("GET", "http://api.test/x?a=2", {"Accept": "application/json"}, None),
        cache_key("GET", "http://api.test/y?a=1", {"Accept": "application/json"}, None),
        cache_key("GET", "http://api.test/x?a=1", {"Accept": "text/plain"}, None),
        cache_key("GET", "http://api.test/x?a=1", {"Accept": "application/json",
                                                   "Authorization": "Bearer other"}, None),
        cache_key("GET", "http://api.test/x?a=1", {"Accept": "application/json"}, b"body"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_key_ignores_header_case_order_and_user_agent_and_hides_secrets():
    one = cache_key("GET", "http://api.test/", {"Authorization": "Bearer s3cret", "A": "1",
                                                "User-Agent": "x"}, None)
    two = cache_key("get", "http://api.test/", {"a": "1", "authorization": "Bearer s3cret"},
                    None)
    assert one == two
    assert "s3cret" not in one


# -- the http node with `cache: true` ---------------------------------------------------


def http_run(http_server, loopback_policy, data, cache=None, observer=None, limits=None,
             edges=None, nodes=None):
    payload = {"nodes": nodes or [{"id": "h", "type": "http", "data": data}],
               "edges": edges or []}
    services = {"egress_policy": loopback_policy}
    if cache is not None:
        services["response_cache"] = cache
    return execute(payload, limits=limits, observer=observer, services=services)


def test_cached_get_is_served_from_the_cache_on_the_next_run(http_server, loopback_policy):
    cache, observer = LocalResponseCache(), RecordingObserver()
    data = {"url": http_server.url("/count"), "cache": True}
    first = http_run(http_server, loopback_policy, data, cache, observer)
    second = http_run(http_server, loopback_policy, data, cache, observer)
    assert first.final_output == second.final_output == {"hits": 1}
    assert http_server.hits("/count") == 1
    assert len(cache) == 1
    http_events = [e for e in observer.events if e[0] in ("cache_lookup", "http_call")]
    assert http_events == [
        ("cache_lookup", False), ("http_call", "GET", data["url"], 200, False),
        ("cache_lookup", True), ("http_call", "GET", data["url"], 200, True),
    ]


def test_without_cache_every_run_calls_the_server(http_server, loopback_policy):
    cache, observer = LocalResponseCache(), RecordingObserver()
    data = {"url": http_server.url("/count")}
    http_run(http_server, loopback_policy, data, cache, observer)
    result = http_run(http_server, loopback_policy, data, cache, observer)
    assert result.final_output == {"hits": 2}
    assert not [e for e in observer.events if e[0] == "cache_lookup"]
    assert len(cache) == 0


def test_cache_entries_expire_after_cache_ttl(http_server, loopback_policy):
    cache = LocalResponseCache()
    data = {"url": http_server.url("/count"), "cache": True, "cache_ttl": "100ms"}
    http_run(http_server, loopback_policy, data, cache)
    time.sleep(0.15)
    assert http_run(http_server, loopback_policy, data, cache).final_output == {"hits": 2}


def test_only_get_and_head_are_cached(http_server, loopback_policy):
    cache = LocalResponseCache()
    data = {"url": http_server.url("/count"), "method": "POST", "cache": True}
    http_run(http_server, loopback_policy, data, cache)
    assert http_run(http_server, loopback_policy, data, cache).final_output == {"hits": 2}
    assert len(cache) == 0


def test_error_responses_are_not_cached(http_server, loopback_policy):
    cache = LocalResponseCache()
    data = {"url": http_server.url("/status?code=503"), "cache": True,
            "allow_error_status": True}
    http_run(http_server, loopback_policy, data, cache)
    http_run(http_server, loopback_policy, data, cache)
    assert http_server.hits("/status") == 2
    assert len(cache) == 0


def test_requests_with_different_credentials_do_not_share_entries(http_server,
                                                                  loopback_policy):
    cache = LocalResponseCache()
    for token in ("alice", "bob", "alice"):
        http_run(http_server, loopback_policy,
                 {"url": http_server.url("/count"), "cache": True,
                  "headers": {"Authorization": f"Bearer {token}"}}, cache)
    assert http_server.hits("/count") == 2
    assert len(cache) == 2


def test_cache_hits_do_not_count_against_max_http_calls(http_server, loopback_policy):
    url = http_server.url("/count")
    nodes = [{"id": "a", "type": "http", "data": {"url": url, "cache": True}},
             {"id": "b", "type": "http", "data": {"url": url, "cache": True}}]
    edges = [{"source": "a", "target": "b"}]
    result = http_run(http_server, loopback_policy, None, LocalResponseCache(),
                      limits=Limits(max_http_calls=1), nodes=nodes, edges=edges)
    assert result.status == "succeeded", result.errors
    assert http_server.hits("/count") == 1


def test_the_process_wide_cache_is_used_when_the_run_names_none(http_server,
                                                                loopback_policy):
    url = http_server.url(f"/count?unique={uuid.uuid4().hex}")
    data = {"url": url, "cache": True}
    http_run(http_server, loopback_policy, data)
    http_run(http_server, loopback_policy, data)
    assert http_server.hits("/count") == 1
    default_response_cache().clear()


@pytest.mark.parametrize("ttl", ["0s", -1])
def test_cache_ttl_must_be_positive(ttl):
    from engine import PayloadError, Workflow

    with pytest.raises(PayloadError, match="cache_ttl"):
        Workflow.load({"nodes": [{"id": "h", "type": "http", "data": {
            "url": "http://api.test/", "cache": True, "cache_ttl": ttl}}], "edges": []})
