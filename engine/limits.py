"""Execution limits: one frozen value per run. The defaults are the server's unless its
settings (THAIYYAL_<LIMIT NAME>) or `serve`'s flags change them; a request may lower a
limit, never raise it."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, fields
from typing import Any

# Matched against stripped text: with `\s*` on both sides of an optional unit, spaces
# could be split between them in n ways (a megabyte of spaces took minutes).
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
#: what a duration may be, named in the message that refuses one
DURATION_FORMS = ("a number of seconds, or a number with one of the units ms, s, m, h: "
                  "500ms, 30s, 10m, 1h")


def parse_duration(value: str | float | int) -> float:
    """Seconds from `30`, `30s`, `500ms`, `10m` or `1h`. Raises ValueError on anything else."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    match = _DURATION.fullmatch(value.strip())
    if not match:
        raise ValueError(f"not a duration: {value!r} ({DURATION_FORMS})")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound a run obeys. Times are seconds, sizes bytes or items."""

    max_execution_time: float = 30.0
    max_node_executions: int = 10_000
    max_http_calls: int = 100
    max_loop_iterations: int = 1_000
    max_nodes: int = 1_000
    max_edges: int = 10_000
    max_payload_bytes: int = MiB
    max_string_length: int = MiB
    max_array_length: int = 100_000
    http_connect_timeout: float = 5.0
    http_timeout: float = 30.0
    max_http_response_bytes: int = 10 * MiB
    max_http_redirects: int = 5
    max_parallel_branches: int = 8
    #: how deeply arrays and objects may nest, in the payload and in every node result
    #: (JSON encoders and decoders recurse; 64 levels is far beyond real documents)
    max_depth: int = 64
    #: how many values one node result may hold, counted as JSON would write them
    max_result_values: int = 1_000_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"limit {f.name} must be a positive number, got {value!r}")

    def lowered(self, **requested: Any) -> Limits:
        """A copy with the requested values, each capped at this one's: a caller can lower a
        limit, never raise it. Unknown names raise ValueError."""
        known = {f.name for f in fields(self)}
        unknown = set(requested) - known
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        changes = {}
        for name, value in requested.items():
            if value is None:
                continue
            if name in {"max_execution_time", "http_timeout", "http_connect_timeout"}:
                value = parse_duration(value)
            changes[name] = min(value, getattr(self, name))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
