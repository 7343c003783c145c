"""Nodes that wait: `delay`, `rate_limiter`, `throttle`.

Every wait is `ctx.sleep`, which wakes when the run is cancelled and never sleeps past the
node's or the run's deadline. They run on the branch pool (`io_bound`), so a waiting branch
never holds up the others. Limiter bookkeeping is per run, in `ctx.state.pacing`, keyed by
node id (or a shared `limiter_key`, so several nodes can draw on one budget) and guarded
by `ctx.state.lock`: branches on several threads reserve their turns in order.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.nodes.base import Field, Node, Report, register

if TYPE_CHECKING:
    from engine.state import NodeContext


@register
class DelayNode(Node):
    """Waits `duration`, then passes its first input on."""

    type_name = "delay"
    io_bound = True
    fields = (Field("duration", "duration", required=True),)

    __slots__ = ("_seconds",)

    def setup(self) -> None:
        self._seconds = self.config["duration"]

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        ctx.sleep(self._seconds)
        return {"value": inputs[0] if inputs else None,
                "duration": self.given("duration"), "delayed": True}


def _check_key(config: Mapping[str, Any], report: Report) -> None:
    if config.get("limiter_key") == "":
        report("limiter_key", "must not be empty")


@register
class RateLimiterNode(Node):
    """Lets at most `max_requests` executions through per `per_duration` (a sliding
    window); an execution over the budget waits for the oldest one to leave the window."""

    type_name = "rate_limiter"
    io_bound = True
    fields = (
        Field("max_requests", "integer", default=10),
        Field("per_duration", "duration", default=1.0, aliases=("window",)),
        Field("limiter_key", "string"),
    )

    __slots__ = ("_max", "_window", "_key")

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        if config["max_requests"] < 1:
            report("max_requests", "must be at least 1")
        if config["per_duration"] <= 0:
            report("per_duration", "must be greater than zero")
        _check_key(config, report)

    def setup(self) -> None:
        self._max = self.config["max_requests"]
        self._window = self.config["per_duration"]
        self._key = "rate_limiter:" + (self.config["limiter_key"] or self.id)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        state = ctx.state
        with state.lock:
            # The last `max_requests` grants, oldest first (turns already reserved included).
            grants: deque[float] = state.pacing.setdefault(self._key, deque())
            now = time.monotonic()
            at = now if len(grants) < self._max else max(now, grants[0] + self._window)
            grants.append(at)
            if len(grants) > self._max:
                grants.popleft()
            in_window = sum(1 for g in grants if g > at - self._window)
        ctx.sleep(at - now)
        return {
            "value": inputs[0] if inputs else None,
            "rate_limited": True,
            "requests_count": in_window,
            "max_requests": self._max,
            "window": self.given("per_duration", self.given("window", "1s")),
        }


@register
class ThrottleNode(Node):
    """Spaces executions at least 1/`requests_per_second` apart."""

    type_name = "throttle"
    io_bound = True
    fields = (
        Field("requests_per_second", "number", default=5),
        Field("limiter_key", "string"),
    )

    __slots__ = ("_rate", "_key")

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        if config["requests_per_second"] <= 0:
            report("requests_per_second", "must be greater than zero")
        _check_key(config, report)

    def setup(self) -> None:
        self._rate = self.config["requests_per_second"]
        self._key = "throttle:" + (self.config["limiter_key"] or self.id)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        state = ctx.state
        with state.lock:
            now = time.monotonic()
            last = state.pacing.get(self._key)
            at = now if last is None else max(now, last + 1.0 / self._rate)
            state.pacing[self._key] = at
        ctx.sleep(at - now)
        return {
            "value": inputs[0] if inputs else None,
            "throttled": True,
            "requests_per_second": self._rate,
            "delay_ms": round((at - now) * 1000),
        }
