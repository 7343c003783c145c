"""Work metering: how long-running helpers check the run's deadline without a check per item.

Work is counted in items touched (compared, copied, joined, sorted...): every WORK_SLICE
of them (about a millisecond) the deadline is checked. Arrays and strings shorter than
METER_FROM are not metered: the bookkeeping would cost more than the work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

WORK_SLICE = 20_000
METER_FROM = 64

_METER = threading.local()


def meter_for(check: Callable[[], None] | None) -> Callable[[], None] | None:
    """Make `check` (a run's deadline check) the one `meter` calls on this thread, until
    the next call; returns the previous one, for the caller to put back. The scheduler
    sets it while it runs nodes: equality and the text of arrays, which get no scope,
    then check the deadline of the run they work for."""
    previous = getattr(_METER, "check", None)
    _METER.check = check
    return previous


def work(check: Callable[[], None], amount: int) -> None:
    """Meter `amount` items of work; call `check` once a slice is used up."""
    left = getattr(_METER, "left", WORK_SLICE) - amount
    if left <= 0:
        _METER.left = WORK_SLICE
        check()
        return
    _METER.left = left


def meter(amount: int) -> None:
    """`work` for helpers called without a scope, for the run whose nodes this thread is
    running (see `meter_for`)."""
    left = getattr(_METER, "left", WORK_SLICE) - amount
    if left <= 0:
        _METER.left = WORK_SLICE
        check = getattr(_METER, "check", None)
        if check is not None:
            check()
        return
    _METER.left = left
