"""Site-wide 404 and 500 answers: JSON under /api/, Django's plain pages elsewhere; an
unreachable database is a JSON 503 with Retry-After everywhere (thaiyyal.unavailable)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from thaiyyal.unavailable import current_exception_is_unreachable_database, unavailable_response


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _api(request):
        return JsonResponse({"success": False, "error": f"no such endpoint: {request.path}",
                             "details": []}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except` block: the exception is still current. This
    # catches database errors raised anywhere, middleware included (session, token).
    if current_exception_is_unreachable_database():
        return unavailable_response()
    if _api(request):
        return JsonResponse({"success": False, "error": "internal server error",
                             "details": []}, status=500)
    return defaults.server_error(request)
