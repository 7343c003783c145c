"""API token authentication that lets database-free endpoints work through an outage.

Checking a token is a database lookup, so with the database down every authenticated
request would fail, even one that needs nothing else from it (`validate`). This class
is DRF's TokenAuthentication, plus: each worker remembers the tokens it verified in the
last THAIYYAL_AUTH_REMEMBER_SECONDS, and when the lookup fails because the database is
unreachable, a view marked `works_without_database = True` accepts a remembered token.

Every other view still answers 503: a remembered token never opens an endpoint that
reads or writes data. The cost: a token deleted less than the window before an outage
keeps opening those views during it (it cannot be deleted during one).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request

from thaiyyal.unavailable import database_unreachable

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

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


remembered_tokens = _RememberedTokens()


class OutageTolerantTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        self._request = request
        return super().authenticate(request)

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
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
