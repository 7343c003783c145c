"""The `cache` node: set, get, delete and expiry within one run."""

from __future__ import annotations

import time

import pytest

from engine import execute
from engine.errors import NodeError
from engine.limits import Limits
from engine.state import NodeContext, Run
from tests.engine.payloads import edge, node


@pytest.fixture
def ops(load_node):
    """Run cache operations against one shared run: ops("set", "k", value)."""
    run = Run("cache-test", Limits(), {}, None, None)

    def call(op, key, *inputs, ttl=None):
        data = {"cache_op": op, "cache_key": key}
        if ttl is not None:
            data["ttl"] = ttl
        cache = load_node("cache", data)
        return cache.run(list(inputs), NodeContext(run, cache.id))

    return call


def test_set_then_get_returns_the_value(ops):
    assert ops("set", "user", {"id": 7}) == {
        "operation": "set", "key": "user", "value": {"id": 7}, "ttl": None}
    assert ops("get", "user") == {"operation": "get", "key": "user", "found": True,
                                  "value": {"id": 7}}


def test_set_echoes_the_ttl_as_given(ops):
    assert ops("set", "k", 1, ttl="10m")["ttl"] == "10m"
    assert ops("set", "k", 1, ttl=90)["ttl"] == 90


def test_get_of_a_missing_key_is_not_found(ops):
    assert ops("get", "nothing") == {"operation": "get", "key": "nothing", "found": False,
                                     "value": None}


def test_delete_deletes(ops):
    ops("set", "k", 1)
    assert ops("delete", "k") == {"operation": "delete", "key": "k", "deleted": True}
    assert ops("get", "k")["found"] is False
    assert ops("delete", "k")["deleted"] is True  # Thaiyyal's answer: the key is gone


def test_entries_expire_after_their_ttl(ops):
    ops("set", "k", "v", ttl="50ms")
    assert ops("get", "k")["found"] is True
    time.sleep(0.08)
    assert ops("get", "k") == {"operation": "get", "key": "k", "found": False, "value": None}


def test_set_overwrites_and_renews(ops):
    ops("set", "k", 1, ttl="50ms")
    ops("set", "k", 2, ttl="10s")
    time.sleep(0.08)
    assert ops("get", "k")["value"] == 2


def test_set_without_input_fails(ops):
    with pytest.raises(NodeError, match="cache set needs an input"):
        ops("set", "k")


def test_a_set_in_one_branch_is_seen_by_a_later_get_in_the_workflow():
    result = execute({
        "nodes": [node("n", "number", value=42),
                  node("put", "cache", cache_op="set", cache_key="answer"),
                  node("read", "cache", cache_op="get", cache_key="answer")],
        "edges": [edge("n", "put"), edge("put", "read")],
    })
    assert result.final_output["value"] == 42


def test_the_store_is_per_run():
    payload = {"nodes": [node("read", "cache", cache_op="get", cache_key="k")], "edges": []}
    execute({"nodes": [node("n", "number", value=1),
                       node("put", "cache", cache_op="set", cache_key="k")],
             "edges": [edge("n", "put")]})
    assert execute(payload).final_output["found"] is False


def test_cache_refuses_unknown_ops_empty_keys_and_zero_ttl(load_problems):
    [problem] = load_problems("cache", {"cache_op": "flush", "cache_key": "k"})
    assert problem["path"] == "$.nodes[0].data.cache_op"
    assert load_problems("cache", {"cache_op": "get", "cache_key": "", "ttl": 0}) == [
        {"path": "$.nodes[0].data.cache_key", "message": "must not be empty"},
        {"path": "$.nodes[0].data.ttl", "message": "must be greater than zero"},
    ]
    assert load_problems("cache", {"cache_op": "get"}) == [
        {"path": "$.nodes[0].data.cache_key", "message": "required (string)"}]
