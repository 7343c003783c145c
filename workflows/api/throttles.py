"""DRF's throttles, reading their rates from the settings at each request.

DRF binds THROTTLE_RATES when its classes are defined, so a changed REST_FRAMEWORK
setting (a test's override) would never reach them; these look the rate up each time.
A scope whose rate is None ("off" in the environment) is not throttled.
"""

from __future__ import annotations

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
