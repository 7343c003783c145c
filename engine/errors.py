"""Errors the engine raises or reports. Every one carries enough to act on."""

from __future__ import annotations

from dataclasses import dataclass


class ThaiyyalError(Exception):
    """Base of every engine error."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a payload: where (a JSON path such as `$.nodes[2].data.op`) and why."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PayloadError(ThaiyyalError):
    """The payload cannot be loaded. `problems` lists every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = "; ".join(str(p) for p in self.problems[:3])
        more = f" (+{len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        super().__init__(f"invalid workflow: {first}{more}")

    def to_list(self) -> list[dict[str, str]]:
        return [p.to_dict() for p in self.problems]


class ExpressionSyntaxError(ThaiyyalError):
    """An expression does not parse. `column` is 1-based within the expression text."""

    def __init__(self, message: str, column: int) -> None:
        self.reason = message
        self.column = column
        super().__init__(f"{message} at column {column}")


class ExpressionError(ThaiyyalError):
    """An expression failed while being evaluated (wrong type, unknown field, size limit...)."""


class ExecutionError(ThaiyyalError):
    """A run failed. `code` is a stable machine-readable reason used by metrics and the API."""

    code = "execution_error"

    def __init__(self, message: str, node_id: str | None = None) -> None:
        self.message = message
        self.node_id = node_id
        super().__init__(message)

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "node_id": self.node_id, "message": self.message}


class NodeError(ExecutionError):
    """A node could not do its work (bad input type, division by zero, HTTP 500...)."""

    code = "node_error"


#: Thaiyyal's wording for each limit (its tests and API clients match on these phrases);
#: ours says the same, then names the limit and its value.
THAIYYAL_LIMIT_PHRASES = {
    "max_node_executions": "maximum node executions exceeded",
    "max_http_calls": "maximum HTTP calls per execution exceeded",
    "max_string_length": "string too long",
    "max_array_length": "array too large",
    "max_loop_iterations": "maximum iterations exceeded",
    "max_http_response_bytes": "response too large",
    "max_http_redirects": "too many redirects",
}


class LimitExceeded(ExecutionError):
    """A limit stopped the run. The message starts with Thaiyyal's phrase for it
    (`workflow execution timeout: exceeded 100ms`) and names the limit and its value."""

    code = "limit_exceeded"

    def __init__(self, limit: str, value: object, node_id: str | None = None,
                 detail: str = "") -> None:
        self.limit = limit
        self.value = value
        text = f"{limit_phrase(limit, value)} (limit {limit}={value} exceeded)"
        if detail:
            text = f"{text}: {detail}"
        super().__init__(text, node_id)


def limit_phrase(limit: str, value: object) -> str:
    """Thaiyyal's words for `limit` being hit."""
    if limit == "max_execution_time":
        return f"workflow execution timeout: exceeded {go_duration(_seconds(value))}"
    return THAIYYAL_LIMIT_PHRASES.get(limit, "limit exceeded")


def _seconds(value: object) -> float:
    """The limit's value in seconds: a number, or the `"0.1s"` text the runner passes."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    try:
        return float(text[:-1] if text.endswith("s") else text)
    except ValueError:
        return 0.0


def go_duration(seconds: float) -> str:
    """`seconds` written as Go's time.Duration prints it (Thaiyyal's messages use `%v`):
    100ms, 1.5s, 30s, 5m0s, 1h30m0s."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size or unit == "ns":
                return sign + _trim(nanos / size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _trim(rest / 1e9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _trim(number: float) -> str:
    return f"{number:.9f}".rstrip("0").rstrip(".")


class NodeTimeout(ExecutionError):
    """A node ran past its own `timeout`."""

    code = "timeout"


class Cancelled(ExecutionError):
    """The run was stopped (deadline passed or another branch failed) while this work waited."""

    code = "cancelled"
