"""The environment an expression is evaluated in, shared by the compiler and the nodes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def _no_check() -> None:
    return None


@dataclass(slots=True)
class Scope:
    """Run-wide names an expression can read. One per run; the mappings are live views.

    - `variables.x` reads `variables`, `context.x` reads `context`, `node.<id>.x` reads `nodes`.
    - Values an expression builds (strings, arrays) are bounded by the two size limits.
    - `check_deadline` raises when the run is out of time; long evaluations call it.
    """

    variables: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    nodes: Mapping[str, Any] = field(default_factory=dict)
    max_string_length: int = 1024 * 1024
    max_array_length: int = 100_000
    check_deadline: Callable[[], None] = _no_check
