"""Benchmarks print figures; they never assert on time (that would flake)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best wall time in seconds of `number` calls, over `repeat` tries: the least noisy
    figure on a shared machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def report(title: str, **figures: str) -> None:
    print(f"\n[bench] {title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
