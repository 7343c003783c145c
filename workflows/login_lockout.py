"""Admin (session) login lockout: django-axes's database handler with two limits.

- A username and address pair is locked after THAIYYAL_LOGIN_FAILURE_LIMIT failures (5):
  someone guessing one account's password.
- An address is locked after THAIYYAL_LOGIN_ADDRESS_FAILURE_LIMIT failures across all
  usernames (20): one client trying a few passwords on many accounts (password spraying).
  Higher than the pair's limit because every client behind one proxy shares its address.

Axes compares the largest count of its lockout parameter groups with one limit; this
handler keeps its groups ([username+address], [address]) and gives each its own limit. A
successful login clears its own pair only: a sprayer's login to their own account must
not wipe the address's failures on everyone else's.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


def _failures(attempts: Any) -> int:
    return int(attempts.aggregate(Sum("failures_since_start"))["failures_since_start__sum"]
               or 0)


class LoginLockoutHandler(AxesDatabaseHandler):  # type: ignore[misc]
    """Needs AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"], in
    that order (the pair's attempts, then the address's)."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None
                     ) -> int:
        pair, address = self.get_user_attempts(request, credentials)
        failures = _failures(pair)
        address_limit = settings.THAIYYAL_LOGIN_ADDRESS_FAILURE_LIMIT
        if address_limit and _failures(address) >= address_limit:
            return max(failures, get_failure_limit(request, credentials))
        return failures

    def reset_user_attempts(self, request: HttpRequest,
                            credentials: dict[str, Any] | None = None) -> int:
        pair = self.filter_user_attempts(request, credentials)[0]
        count, _ = pair.delete()
        return int(count)
