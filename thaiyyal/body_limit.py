"""Request bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get a JSON 413 before any view runs.

DRF's parsers read the raw stream, bypassing Django's own size check, and Django's check
(for form posts) answers 400; this middleware gives both one clear answer.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse


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
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A body that passed the header check but still tripped Django's limit.
        if isinstance(exception, RequestDataTooBig):
            return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return None
