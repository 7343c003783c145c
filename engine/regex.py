"""User-supplied regular expressions, on RE2: linear time in the text, whatever the pattern.

Python's `re` backtracks: `^(a+)+$` against 27 `a`s and a `!` takes seconds and holds the
GIL throughout, so no deadline check (and no other thread of the worker) runs meanwhile.
RE2 (the `google-re2` package) matches in time linear in the text and releases the GIL
while it matches. It refuses what it cannot run in linear time (backreferences,
lookahead/lookbehind): such a pattern is a load-time error naming its path, never a slow
run. Our own fixed patterns (the expression lexer, duration parsing) stay on `re`.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

#: what RE2 raises for a pattern it cannot compile
PatternError = re2.error

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern on stderr


class UnsupportedPattern(ValueError):
    """A pattern RE2 cannot run. The message says why and what to do."""


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (cached: schemas repeat theirs for every instance).
    Raises UnsupportedPattern when RE2 cannot run it."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except PatternError as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UnsupportedPattern(
            f"pattern {pattern!r} cannot run on RE2, the linear-time regex engine: {reason} "
            "(backreferences and lookahead/lookbehind are not supported)") from None


def pattern_problem(pattern: str) -> str | None:
    """Why RE2 cannot run `pattern`, or None when it can."""
    try:
        compile_pattern(pattern)
    except UnsupportedPattern as exc:
        return str(exc)
    return None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (JSON Schema's `pattern` rule)."""
    return compile_pattern(pattern).search(text) is not None
