"""DRF's throttles, reading their rates from the settings at each request.

DRF binds THROTTLE_RATES when its classes are defined, so a changed REST_FRAMEWORK
setting (a test's override) would never reach them; these look the rate up each time.
A scope whose rate is None ("off" in the environment) is not throttled.

Counts live in Django's cache (the "default" alias): per worker process with the default
local-memory cache, server-wide when CACHES names a shared one (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


class _CurrentRates:
    scope: str | None

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")


class AnonThrottle(_CurrentRates, AnonRateThrottle):
    """Unauthenticated requests, by client address (scope "anon")."""


class UserThrottle(_CurrentRates, UserRateThrottle):
    """Authenticated requests, by user (scope "user")."""


class ExecuteThrottle(_CurrentRates, ScopedRateThrottle):
    """Executions, by user (scope "execute"), on top of the general ones."""


class FailedAuthenticationThrottle(AnonThrottle):
    """A request whose credentials were refused counts against the anonymous rate of its
    client address, in the same counter as AnonThrottle: guessing tokens is throttled like
    any unauthenticated traffic (DRF authenticates before it throttles, so a bad token
    would otherwise get a 401 every time, never a 429)."""

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        # AnonRateThrottle asks request.user first; here authentication has just failed
        # (asking again would re-run it), so the client is anonymous by definition.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def count_failed_authentication(request: Any) -> None:
    """Count a refused credential; raise Throttled (429) past the anonymous rate."""
    throttle = FailedAuthenticationThrottle()
    if throttle.rate is None:
        return
    if not throttle.allow_request(request, None):
        raise Throttled(wait=throttle.wait())
