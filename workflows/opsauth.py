"""Who may see operations endpoints (/metrics, /debug/pprof/): staff, or a scraper's bearer.

Staff prove themselves with a session (the admin login) or, for curl and scripts, with
their API token (`Authorization: Token <key>`). Prometheus uses a shared bearer secret
(`Authorization: Bearer $THAIYYAL_METRICS_TOKEN`) that opens /metrics and nothing else.
"""

from __future__ import annotations

import hmac
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
    return bool(token and token.user.is_active and token.user.is_staff)


def has_metrics_bearer(request: HttpRequest) -> bool:
    """The request carries `Authorization: Bearer <THAIYYAL_METRICS_TOKEN>` (env must be set)."""
    expected = os.environ.get(METRICS_TOKEN_ENV, "")
    scheme, given = _authorization(request)
    return bool(expected) and scheme == "bearer" and hmac.compare_digest(
        given.encode(), expected.encode())


def forbidden(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=403)
