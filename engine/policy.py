"""Per-node execution policies: `retry` and `timeout`, accepted by every node type.

`{"data": {..., "retry": {"max_attempts": 3, "backoff": "exponential", "initial_delay": "100ms",
"max_delay": "5s", "jitter": true, "retry_on": ["timeout", "status 5"]}, "timeout": "2s"}}`
re-executes the node up to `max_attempts` times and bounds each attempt to `timeout`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import Cancelled, ExecutionError, LimitExceeded
from engine.limits import parse_duration

BACKOFFS = ("constant", "linear", "exponential")
#: failures a retry can never fix: the run itself is out of budget or was stopped
_NEVER_RETRIED = (LimitExceeded, Cancelled)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff: str = "exponential"
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: bool = False
    #: substrings of the error code or message that make an error retryable; empty: any
    retry_on: tuple[str, ...] = ()

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if self.backoff == "constant":
            delay = self.initial_delay
        elif self.backoff == "linear":
            delay = self.initial_delay * attempt
        else:
            delay = self.initial_delay * self.multiplier ** (attempt - 1)
        delay = min(delay, self.max_delay)
        if self.jitter:
            delay *= 0.5 + rand() / 2  # "equal jitter": keeps at least half the backoff
        return delay

    def should_retry(self, error: ExecutionError) -> bool:
        if isinstance(error, _NEVER_RETRIED) or getattr(error, "retryable", True) is False:
            return False
        if not self.retry_on:
            return True
        text = f"{error.code} {error.message}".lower()
        return any(pattern.lower() in text for pattern in self.retry_on)


@dataclass(frozen=True, slots=True)
class NodePolicy:
    retry: RetryPolicy | None = None
    timeout: float | None = None

    @property
    def active(self) -> bool:
        return self.retry is not None or self.timeout is not None


NO_POLICY = NodePolicy()


def parse_retry(value: Any, report: Callable[[str, str], None]) -> RetryPolicy | None:
    """Read a `retry` object; problems go to `report(subpath, message)`."""
    if value is None or value is False:
        return None
    if value is True:
        return RetryPolicy()
    if not isinstance(value, Mapping):
        report("", "must be an object such as {\"max_attempts\": 3}")
        return None
    kwargs: dict[str, Any] = {}
    attempts = value.get("max_attempts", 3)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
        report(".max_attempts", "must be an integer from 1 to 100")
    else:
        kwargs["max_attempts"] = attempts
    backoff = value.get("backoff", value.get("backoff_strategy", "exponential"))
    if backoff not in BACKOFFS:
        report(".backoff", f"must be one of {', '.join(BACKOFFS)}")
    else:
        kwargs["backoff"] = backoff
    for key in ("initial_delay", "max_delay"):
        if key in value:
            try:
                kwargs[key] = parse_duration(value[key])
            except ValueError as exc:
                report(f".{key}", str(exc))
    multiplier = value.get("multiplier", 2.0)
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | float) or multiplier < 1:
        report(".multiplier", "must be a number >= 1")
    else:
        kwargs["multiplier"] = float(multiplier)
    jitter = value.get("jitter", False)
    if not isinstance(jitter, bool):
        report(".jitter", "must be true or false")
    else:
        kwargs["jitter"] = jitter
    retry_on = value.get("retry_on", value.get("retry_on_errors", []))
    if not isinstance(retry_on, list) or not all(isinstance(p, str) for p in retry_on):
        report(".retry_on", "must be a list of strings (error codes or message fragments)")
    else:
        kwargs["retry_on"] = tuple(retry_on)
    return RetryPolicy(**kwargs)


def parse_timeout(value: Any, report: Callable[[str, str], None]) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        report("", str(exc))
        return None
    if seconds <= 0:
        report("", "must be greater than zero")
        return None
    return seconds
