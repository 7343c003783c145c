"""User-supplied regular expressions, on RE2: linear time in the text, whatever the pattern.

Python's `re` backtracks: `^(a+)+$` against 27 `a`s and a `!` takes seconds and holds the
GIL throughout, so no deadline check (and no other thread of the worker) runs meanwhile.
RE2 (the `google-re2` package) matches in time linear in the text and releases the GIL
while it matches. It refuses what it cannot run in linear time (backreferences,
lookahead/lookbehind): such a pattern is a load-time error naming its path, never a slow
run. Our own fixed patterns (the expression lexer, duration parsing) stay on `re`.

Compiling is not free, and it holds the GIL: RE2 expands counted repetitions before it
checks the program's size, so with its default 8 MiB budget one 4 KiB pattern of `x{1000}`s
took 200 ms and a 1 MiB one most of a second, and every compiled program stays in memory
while cached. So every user pattern is at most MAX_PATTERN_LENGTH characters and compiles
within MAX_PATTERN_MEMORY (the worst pattern we found then takes about 40 ms, a typical one
well under 1 ms); schema patterns, which repeat for every instance, share a small cache,
and strings from run data (`format: "regex"`) are compiled, judged and dropped.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import re2

#: what RE2 raises for a pattern it cannot compile
PatternError = re2.error

#: characters a user pattern may have (real schema patterns are tens of characters)
MAX_PATTERN_LENGTH = 4096
#: RE2's memory budget for one compiled pattern (its default is 8 MiB); it also bounds the
#: work of compiling, which RE2 stops once the program would not fit
MAX_PATTERN_MEMORY = 1 << 20
#: compiled schema patterns kept per process (each at most MAX_PATTERN_MEMORY)
CACHED_PATTERNS = 64
#: characters of a refused pattern quoted in its error message
_QUOTED = 60
#: seconds one workflow's load may spend compiling its patterns in all. Loading has no
#: deadline of its own, and a schema may hold thousands of patterns that each compile
#: slowly before RE2 refuses them (`\pL{1000}`: 6-17 ms): 20,000 of them in 800 KB of
#: payload held a worker for 182 s. A typical pattern compiles in well under 0.1 ms.
LOAD_COMPILE_SECONDS = 0.25

_BUDGET = threading.local()

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern on stderr
_OPTIONS.max_mem = MAX_PATTERN_MEMORY


class UnsupportedPattern(ValueError):
    """A pattern RE2 cannot run. The message says why and what to do."""


def _quoted(pattern: str) -> str:
    if len(pattern) <= _QUOTED:
        return repr(pattern)
    return f"{pattern[:_QUOTED]!r}... ({len(pattern)} characters)"


def compile_uncached(pattern: str) -> Any:
    """The compiled pattern, not kept: for strings of run data, which rarely repeat.
    Raises UnsupportedPattern when RE2 cannot run it or it is too long."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        # Refused before RE2 sees it: parsing alone is linear in the length, compiling is not.
        raise UnsupportedPattern(
            f"pattern {_quoted(pattern)} is too long: at most {MAX_PATTERN_LENGTH} characters")
    left = getattr(_BUDGET, "left", None)
    if left is not None and left <= 0:
        raise UnsupportedPattern(
            f"pattern {_quoted(pattern)} was not compiled: the workflow's patterns took more "
            f"than {LOAD_COMPILE_SECONDS:g} s to compile in all (use fewer or simpler ones)")
    started = time.perf_counter()
    try:
        return re2.compile(pattern, _OPTIONS)
    except PatternError as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UnsupportedPattern(
            f"pattern {_quoted(pattern)} cannot run on RE2, the linear-time regex engine: "
            f"{reason} (backreferences and lookahead/lookbehind are not supported)") from None
    finally:
        if left is not None:
            _BUDGET.left = left - (time.perf_counter() - started)


@contextmanager
def compile_budget(seconds: float = LOAD_COMPILE_SECONDS) -> Iterator[None]:
    """While active on this thread, compiling patterns may take `seconds` in all; past
    that, every further pattern is refused (UnsupportedPattern): for loading a workflow."""
    saved = getattr(_BUDGET, "left", None)
    _BUDGET.left = seconds
    try:
        yield
    finally:
        _BUDGET.left = saved


@functools.lru_cache(maxsize=CACHED_PATTERNS)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (cached: schemas repeat theirs for every instance).
    Raises UnsupportedPattern when RE2 cannot run it."""
    return compile_uncached(pattern)


def pattern_problem(pattern: str) -> str | None:
    """Why RE2 cannot run `pattern`, or None when it can."""
    try:
        compile_uncached(pattern)
    except UnsupportedPattern as exc:
        return str(exc)
    return None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (JSON Schema's `pattern` rule)."""
    return compile_pattern(pattern).search(text) is not None
