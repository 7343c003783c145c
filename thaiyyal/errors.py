"""Site-wide 400, 404 and 500 answers: JSON under /api/, Django's plain pages elsewhere,
with DEBUG on too (Django's debug 404 page would list every route); 400s are JSON
everywhere (they answer requests no page was built for, such as a Host header not in
ALLOWED_HOSTS); an unreachable database is a JSON 503 with Retry-After everywhere
(thaiyyal.unavailable)."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from thaiyyal.unavailable import current_exception_is_unreachable_database, unavailable_response


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's own 400s (a suspicious request refused before any view ran)."""
    if isinstance(exception, DisallowedHost):
        # Not request.get_host(): it raises again for this very host.
        host = request.META.get("HTTP_HOST", "")[:100]
        details = [{"path": "$.headers.Host",
                    "message": f"{host!r} is not a host this server answers for "
                               "(ALLOWED_HOSTS)"}]
        return JsonResponse({"success": False, "error": "unknown Host header",
                             "details": details}, status=400)
    return JsonResponse({"success": False, "error": "bad request",
                         "details": [{"path": "$", "message": str(exception)[:200]}]},
                        status=400)


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


class NotFoundMiddleware:
    """A path no route matches gets `not_found` whatever DEBUG says: with DEBUG on Django
    answers with its technical page listing every URL pattern (and HTML under /api/)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 404 and getattr(request, "resolver_match", None) is None:
            return not_found(request, Http404())
        return response
