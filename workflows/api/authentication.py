"""API token authentication without a database query per request, and through an outage.

Checking a token is a database lookup: a round trip on every request, and with the
database down every authenticated request would fail, even one that needs nothing else
from it (`validate`). This class is DRF's TokenAuthentication, plus a per-worker memory
of the tokens it verified (their SHA-256, never the token itself):

- a token verified less than THAIYYAL_AUTH_CACHE_SECONDS ago (10 s by default) is
  accepted without a query. That is the revocation delay: a token deleted, or a user
  deactivated, elsewhere (the admin, the API or the shell of another process) stops
  working on every worker within that many seconds; in the process that deletes it, at
  once. 0 checks the database on every request.
- when the lookup fails because the database is unreachable, a view marked
  `works_without_database = True` accepts a token verified in the last
  THAIYYAL_AUTH_REMEMBER_SECONDS. Every other view still answers 503: a remembered token
  never opens an endpoint that reads or writes data. The cost: a token deleted less than
  that window before an outage keeps opening those views during it (it cannot be deleted
  during one).
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from thaiyyal.unavailable import database_unreachable
from workflows.api.throttles import count_failed_authentication

#: tokens remembered per worker process (the least recently verified are forgotten first)
MAX_REMEMBERED = 10_000


class _RememberedTokens:
    def __init__(self) -> None:
        self._entries: OrderedDict[bytes, tuple[Any, Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()  # the raw token is not kept

    def remember(self, key: str, user: Any, token: Any) -> None:
        digest = self._digest(key)
        with self._lock:
            self._entries[digest] = (user, token, time.monotonic())
            self._entries.move_to_end(digest)
            while len(self._entries) > MAX_REMEMBERED:
                self._entries.popitem(last=False)

    def recall(self, key: str, within: float) -> tuple[Any, Any] | None:
        with self._lock:
            entry = self._entries.get(self._digest(key))
        if entry is None or time.monotonic() - entry[2] > within:
            return None
        return entry[0], entry[1]

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(self._digest(key), None)

    def forget_user(self, user_pk: Any) -> None:
        with self._lock:
            for digest in [d for d, (user, _, _) in self._entries.items()
                           if user.pk == user_pk]:
                del self._entries[digest]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


remembered_tokens = _RememberedTokens()


class OutageTolerantTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        self._request = request
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            # A refused token counts against the client's anonymous rate (a 429 past it).
            count_failed_authentication(request)
            raise

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        window = settings.THAIYYAL_AUTH_CACHE_SECONDS
        if window > 0 and (recent := remembered_tokens.recall(key, window)) is not None:
            # Copies: a view that changes request.user must not change the next request's.
            return copy.copy(recent[0]), copy.copy(recent[1])
        try:
            user, token = super().authenticate_credentials(key)
        except Exception as exc:
            if not (database_unreachable(exc) and self._view_works_without_database()):
                raise
            recalled = remembered_tokens.recall(key, settings.THAIYYAL_AUTH_REMEMBER_SECONDS)
            if recalled is None:
                raise
            return recalled
        remembered_tokens.remember(key, user, token)
        return user, token

    def _view_works_without_database(self) -> bool:
        context = getattr(getattr(self, "_request", None), "parser_context", None) or {}
        return bool(getattr(context.get("view"), "works_without_database", False))


# Revocation in this process takes effect at once; other processes see it within
# THAIYYAL_AUTH_CACHE_SECONDS.
def _token_deleted(sender: Any, instance: Token, **kwargs: Any) -> None:
    remembered_tokens.forget(instance.key)


def _user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Deactivated, or any other change (a password reset often goes with a revocation).
    remembered_tokens.forget_user(instance.pk)


def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    remembered_tokens.forget_user(instance.pk)


post_delete.connect(_token_deleted, sender=Token, dispatch_uid="thaiyyal-token-deleted")
post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="thaiyyal-user-saved")
post_delete.connect(_user_deleted, sender=get_user_model(), dispatch_uid="thaiyyal-user-deleted")
