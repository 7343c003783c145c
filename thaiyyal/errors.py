"""Site-wide 404 and 500 answers: JSON under /api/, Django's plain pages elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _api(request):
        return JsonResponse({"success": False, "error": f"no such endpoint: {request.path}",
                             "details": []}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _api(request):
        return JsonResponse({"success": False, "error": "internal server error",
                             "details": []}, status=500)
    return defaults.server_error(request)
