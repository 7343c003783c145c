"""Every API error is JSON of one shape: {"success": false, "error": str, "details": [{path,
message}]}. Paths are JSON paths into the request body (`$.definition.nodes[2].data.op`,
`$.inputs.name`) or, for query parameters, `$.query.<name>`."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import UnreadablePostError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from engine import PayloadError, Problem
from thaiyyal.body_limit import too_large_body
from thaiyyal.unavailable import RETRY_AFTER_SECONDS, database_unreachable, unavailable_body

log = logging.getLogger(__name__)


def error_body(error: str, details: list[dict[str, Any]] | None = None,
               **extra: Any) -> dict[str, Any]:
    return {"success": False, "error": error, "details": details or [], **extra}


def prefixed(exc: PayloadError, prefix: str) -> PayloadError:
    """The same problems with paths re-rooted under `prefix` (e.g. `$.definition`)."""
    return PayloadError([Problem(prefix + p.path[1:] if p.path.startswith("$") else p.path,
                                 p.message) for p in exc.problems])


class InvalidWorkflow(exceptions.APIException):
    """A PayloadError on its way to the client as a 400."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_workflow"

    def __init__(self, error: PayloadError, message: str = "invalid workflow") -> None:
        super().__init__(message)
        self.problems = error.to_list()


#: what a PayloadError is about, by where its problems are
_SUBJECTS = (("$.inputs", "invalid inputs"), ("$.query", "invalid limits"),
             ("$.limits", "invalid limits"))


def _subject(error: PayloadError) -> str:
    for root, message in _SUBJECTS:
        if error.problems and all(p.path.startswith(root) for p in error.problems):
            return message
    return "invalid workflow"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, PayloadError):
        exc = InvalidWorkflow(exc, _subject(exc))
    if isinstance(exc, RequestDataTooBig):
        return Response(too_large_body(settings.DATA_UPLOAD_MAX_MEMORY_SIZE),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if database_unreachable(exc):
        log.warning("database unreachable in %s: %s", context.get("view"), exc)
        return Response(unavailable_body(), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, UnreadablePostError):
        # The client stopped sending its body (THAIYYAL_HEADER_TIMEOUT) or hung up.
        return Response(error_body("request body incomplete", [
            {"path": "$", "message": "the client stopped sending the body it announced"}]),
            status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not a client error: a defect. Logged with its traceback, answered as JSON.
        log.exception("unhandled error in %s", context.get("view"))
        return Response(error_body("internal server error"),
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, InvalidWorkflow):
        response.data = error_body(str(exc.detail), exc.problems)
    elif isinstance(exc, exceptions.ValidationError):
        details = list(_flatten(exc.detail, "$"))
        response.data = error_body(_summary(details), details)
    elif isinstance(exc, exceptions.ParseError):
        path = getattr(exc, "path", "$")
        response.data = error_body("malformed JSON" if path == "$" else f"{path}: {exc.problem}",
                                   [{"path": path, "message": str(exc.detail)}])
    else:
        response.data = error_body(str(getattr(exc, "detail", exc)))
    return response


def _flatten(detail: Any, path: str) -> Any:
    """DRF's nested error detail as (path, message) pairs."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub = path if key == "non_field_errors" else f"{path}.{key}"
            yield from _flatten(value, sub)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            for item in detail:
                yield {"path": path, "message": str(item)}
        else:
            for i, item in enumerate(detail):
                yield from _flatten(item, f"{path}[{i}]")
    else:
        yield {"path": path, "message": str(detail)}


def _summary(details: list[dict[str, str]]) -> str:
    if not details:
        return "invalid request"
    first = details[0]
    more = f" (+{len(details) - 1} more)" if len(details) > 1 else ""
    return f"{first['path']}: {first['message']}{more}"
