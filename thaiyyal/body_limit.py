"""Request bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get a JSON 413 before any view runs.

DRF's parsers read the raw stream, bypassing Django's own size check, and Django's check
(for form posts) answers 400; this middleware gives both one clear answer.

It also reads `Transfer-Encoding: chunked` bodies. Django sizes the body by
Content-Length, which a chunked request does not have, so it would read such a body as
empty and a client's workflow would silently be `{}`. Gunicorn decodes the chunks and
marks its input as terminated (`wsgi.input_terminated`, a WSGI extension): the body is
read here, to the limit, and handed on with its length. A server that does not mark its
input so gets a 411 (send Content-Length) instead of a wrong answer.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from gunicorn.http.errors import ParseException

#: a chunked body is read this many bytes at a time
READ_SIZE = 64 * 1024


def too_large_body(limit: int, size: int | None = None) -> dict[str, object]:
    told = f" ({size} bytes)" if size is not None else ""
    return {"success": False, "error": f"request body too large{told}: the limit is {limit} bytes",
            "details": [{"path": "$", "message": f"at most {limit} bytes"}]}


def too_large(limit: int, size: int | None = None) -> JsonResponse:
    return JsonResponse(too_large_body(limit, size), status=413)


class RequestBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        if limit is not None and size > limit:
            return too_large(limit, size)
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            refused = _read_chunked(request, limit)
            if refused is not None:
                return refused
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A body that passed the header check but still tripped Django's limit.
        if isinstance(exception, RequestDataTooBig):
            return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return None


def _problem(status: int, error: str, message: str) -> JsonResponse:
    return JsonResponse({"success": False, "error": error,
                         "details": [{"path": "$", "message": message}]}, status=status)


def _read_chunked(request: HttpRequest, limit: int | None) -> JsonResponse | None:
    """Read a chunked body into the request (None), or the answer refusing it."""
    environ = getattr(request, "environ", {})
    if not environ.get("wsgi.input_terminated"):
        return _problem(411, "length required",
                        "this server cannot read a chunked body: send Content-Length")
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = stream.read(READ_SIZE)
            if not chunk:
                break
            size += len(chunk)
            if limit is not None and size > limit:
                return too_large(limit)
            chunks.append(chunk)
    except (ParseException, OSError, ValueError):
        return _problem(400, "request body incomplete",
                        "the chunked body was malformed or cut short")
    body = b"".join(chunks)
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[attr-defined]
    return None
