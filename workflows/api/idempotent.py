"""The `Idempotency-Key` header on execute endpoints (the rules are in
workflows/idempotency.py). A request without the header costs nothing more."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from engine import PayloadError
from workflows import idempotency
from workflows.api import serializers as s
from workflows.api.errors import error_body
from workflows.idempotency import Claim

HEADER = "Idempotency-Key"
PATH = f"$.headers.{HEADER}"
MAX_LENGTH = 255
#: headers of the first answer that its client gets too (replays rebuild Location)
KEPT_HEADERS = ("Location", "Preference-Applied")
#: seconds a client is asked to wait before asking again about a key still running
RETRY_AFTER = 1

PARAMETER = OpenApiParameter(
    HEADER, str, OpenApiParameter.HEADER, required=False,
    description="Makes the request safe to retry (1-255 printable ASCII characters, e.g. a "
                "UUID). The first request with a key runs; for 24 hours, the same key with "
                "the same request (method, path, query, body) gets that first answer again "
                "(status and body, header `Idempotent-Replayed: true`) without running "
                "anything; 409 while the first is still running; 422 if the key was used "
                "for a different request.")
RESPONSES = {
    409: OpenApiResponse(s.ErrorSerializer, description=f"a request with this {HEADER} is "
                         "still running: retry after `Retry-After` seconds"),
}


def planned_run_id(request: Request) -> uuid.UUID | None:
    """The id the run of this request must have (set when it carries a key)."""
    return getattr(request, "_idempotent_run_id", None)


def idempotent(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an execute handler (view method) to honour the `Idempotency-Key` header; keys
    belong to the requesting user."""
    return keyed_by(_requester)(handler)


def _requester(request: Request, *args: Any, **kwargs: Any) -> Any:
    return request.user


def keyed_by(owner: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`idempotent`, with keys belonging to `owner(request, *args, **kwargs)`: for an
    endpoint whose caller is not a user (a webhook: its workflow's owner). When `owner`
    gives None, the handler runs without a key (it answers 404 itself)."""
    return functools.partial(_idempotent, owner=owner)


def _idempotent(handler: Callable[..., Any], owner: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        _check(key)
        user = owner(request, *args, **kwargs)
        if user is None:
            return handler(view, request, *args, **kwargs)
        outcome, record = idempotency.claim(user, key, request_hash(request))
        if outcome is Claim.MISMATCH:
            return _error(422, f"this {HEADER} was used for a different request (method, "
                          "path, query or body): use a new key for a new request")
        if outcome is Claim.IN_PROGRESS:
            response = _error(409, f"a request with this {HEADER} is still running: retry "
                              "later to get its answer", run_id=str(record.run_id))
            response["Retry-After"] = str(RETRY_AFTER)
            return response
        if outcome is Claim.REPLAY:
            response = _replay(record.response_status or 200, record.response_body)
            if response.status_code == 202 and record.run_id:
                response["Location"] = f"/api/v1/runs/{record.run_id}"  # a queued run
            return response
        request._idempotent_run_id = record.run_id  # type: ignore[attr-defined]
        try:
            response = handler(view, request, *args, **kwargs)
        except (APIException, PayloadError):
            # Refused before anything ran (bad inputs, unknown workflow).
            idempotency.release(record)
            raise
        body = _render(view, request, response)
        idempotency.complete(record, response.status_code, body.decode())
        answer = _json(response.status_code, body)
        for header in KEPT_HEADERS:  # a queued run's (workflows/api/asynchronous.py)
            if header in response:
                answer[header] = response[header]
        return answer

    return wrapper


def _check(key: str) -> None:
    problem = None
    if not key:
        problem = "must not be empty"
    elif len(key) > MAX_LENGTH:
        problem = f"must be at most {MAX_LENGTH} characters, got {len(key)}"
    elif not all(" " <= c <= "~" for c in key):
        problem = "must be printable ASCII characters"
    if problem:
        raise ValidationError({"headers": {HEADER: [problem]}})


def request_hash(request: Request) -> str:
    """The fingerprint of a request: see `fingerprint`."""
    return fingerprint(request.method or "", request.path, list(request.query_params.lists()),
                       request.body)


def fingerprint(method: str, path: str, query: list[tuple[str, list[str]]],
                body: bytes) -> str:
    """sha256 of what makes a request the same request: method, path (trailing slash or
    not), query parameters (in any order) and body bytes."""
    digest = hashlib.sha256()
    for part in (method.upper(), path.rstrip("/"), repr(sorted(query))):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


def _render(view: Any, request: Request, response: HttpResponse) -> bytes:
    """The response's body as the API would send it (rendered once, here, so that what
    is stored is byte for byte what the client got). Execute answers arrive encoded
    already (services encode them before recording the run)."""
    if not isinstance(response, Response):
        return bytes(response.content)
    context = {**view.get_renderer_context(), "response": response}
    renderer = request.accepted_renderer
    return bytes(renderer.render(response.data, request.accepted_media_type, context))


def _json(status_code: int, body: bytes | str) -> HttpResponse:
    return HttpResponse(body, status=status_code, content_type="application/json")


def _replay(status_code: int, body: str) -> HttpResponse:
    response = _json(status_code, body)
    response["Idempotent-Replayed"] = "true"
    return response


def _error(code: int, message: str, **extra: Any) -> Response:
    return Response(error_body(message, [{"path": PATH, "message": message}], **extra),
                    status=code)
