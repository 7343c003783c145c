"""Who may see operations endpoints (/metrics, /debug/pprof/): staff, or a scraper's bearer.

Staff prove themselves with a session (the admin login) or, for curl and scripts, with
their API token (`Authorization: Token <key>`). Prometheus uses a shared bearer secret
(`Authorization: Bearer $THAIYYAL_METRICS_TOKEN`) that opens /metrics and nothing else.

A refused credential (a token no active user has, a bearer that is not the metrics token)
counts against the anonymous rate of the client's address, in the same counter as a token
the API refuses: guessing here is throttled like guessing there (429 + Retry-After).
"""

from __future__ import annotations

import hmac
import math
import os

from django.apps import apps
from django.http import HttpRequest, JsonResponse

METRICS_TOKEN_ENV = "THAIYYAL_METRICS_TOKEN"


def _authorization(request: HttpRequest) -> tuple[str, str]:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower(), credentials.strip()


def is_staff(request: HttpRequest) -> bool:
    """A staff user by session, or by `Authorization: Token <key>` when DRF tokens are on."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    scheme, key = _authorization(request)
    if scheme != "token" or not key or not apps.is_installed("rest_framework.authtoken"):
        return False
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    known = bool(token and token.user.is_active)
    request._thaiyyal_ops_token_known = known  # type: ignore[attr-defined]
    return bool(known and token and token.user.is_staff)


def has_metrics_bearer(request: HttpRequest) -> bool:
    """The request carries `Authorization: Bearer <THAIYYAL_METRICS_TOKEN>` (env must be set)."""
    expected = os.environ.get(METRICS_TOKEN_ENV, "")
    scheme, given = _authorization(request)
    return bool(expected) and scheme == "bearer" and hmac.compare_digest(
        given.encode(), expected.encode())


def forbidden(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=403)


def _bad_credential(request: HttpRequest) -> bool:
    """The request presented a credential that opens nothing: a token no active user has
    (a non-staff user's good token is not a guess), or a bearer that is not the metrics
    token. Call after is_staff / has_metrics_bearer refused it."""
    scheme, given = _authorization(request)
    if scheme == "token":
        return bool(given) and not getattr(request, "_thaiyyal_ops_token_known", False)
    if scheme == "bearer":
        return not has_metrics_bearer(request)
    return False


def refused(request: HttpRequest, detail: str) -> JsonResponse:
    """The answer to a request an operations endpoint refuses: 403, or 429 with
    Retry-After once refused credentials from its address pass the anonymous rate."""
    if _bad_credential(request):
        from rest_framework.exceptions import Throttled

        from workflows.api.throttles import count_failed_authentication

        try:
            count_failed_authentication(request)
        except Throttled as exc:
            response = JsonResponse({"detail": str(exc.detail)}, status=429)
            response["Retry-After"] = str(max(1, math.ceil(exc.wait or 1)))
            return response
    return forbidden(detail)
