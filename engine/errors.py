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


class LimitExceeded(ExecutionError):
    """A limit stopped the run. The message names the limit and its value."""

    code = "limit_exceeded"

    def __init__(self, limit: str, value: object, node_id: str | None = None,
                 detail: str = "") -> None:
        self.limit = limit
        self.value = value
        text = f"limit {limit}={value} exceeded"
        if detail:
            text = f"{text}: {detail}"
        super().__init__(text, node_id)


class NodeTimeout(ExecutionError):
    """A node ran past its own `timeout`."""

    code = "timeout"


class Cancelled(ExecutionError):
    """The run was stopped (deadline passed or another branch failed) while this work waited."""

    code = "cancelled"
