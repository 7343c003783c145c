"""The `cache` node: a key-value store for one run, with expiry.

Entries live in `ctx.state.cache` as `key -> (value, expires_at)` (monotonic seconds), so
a `set` in one branch is seen by a `get` in a later one, and loop bodies share it across
iterations. (HTTP responses have their own cross-run cache: `http {cache: true}`.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import NodeError
from engine.nodes.base import Field, Node, Report, register

if TYPE_CHECKING:
    from engine.state import NodeContext, RunState

CACHE_OPS = ("get", "set", "delete")


@register
class CacheNode(Node):
    """`set` stores the first input under `cache_key` for `ttl` (default 5m); `get` reads it
    (`found: false` once expired or never set); `delete` removes it."""

    type_name = "cache"
    fields = (
        Field("cache_op", "string", required=True, choices=CACHE_OPS, aliases=("operation",),
              fold_case=True, unsupported="unsupported cache operation: {value}"),
        Field("cache_key", "string", required=True, aliases=("key",)),
        Field("ttl", "duration", default=300.0),
    )

    __slots__ = ("_op", "_key", "_ttl")

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        if not config["cache_key"]:
            report("cache_key", "must not be empty")
        if config["ttl"] <= 0:
            report("ttl", "must be greater than zero")

    def setup(self) -> None:
        self._op = self.config["cache_op"]
        self._key = self.config["cache_key"]
        self._ttl = self.config["ttl"]

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        state = ctx.state
        result: dict[str, Any] = {"operation": self._op, "key": self._key}
        if self._op == "set":
            if not inputs:
                raise NodeError("cache set needs an input value to store")
            with state.lock:
                state.cache[self._key] = (inputs[0], time.monotonic() + self._ttl)
            return {**result, "value": inputs[0], "ttl": self.given("ttl")}
        with state.lock:
            found, value = _live_entry(state, self._key)
            if self._op == "delete":
                state.cache.pop(self._key, None)
                return {**result, "deleted": True}  # as Thaiyyal: the key is gone either way
        return {**result, "found": found, "value": value}


def _live_entry(state: RunState, key: str) -> tuple[bool, Any]:
    """(found, value) for `key`, dropping the entry if it has expired. Hold `state.lock`."""
    entry = state.cache.get(key)
    if entry is None:
        return False, None
    value, expires_at = entry
    if expires_at is not None and expires_at <= time.monotonic():
        del state.cache[key]
        return False, None
    return True, value
