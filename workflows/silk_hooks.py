"""django-silk policy: which requests silk records and which it profiles.

Silk is on only with THAIYYAL_SILK=1 (settings). It then records a sample of requests
(THAIYYAL_SILK_PERCENT, default 10) with their SQL, and runs cProfile on a request when
THAIYYAL_SILK_PROFILER=1 or when a staff user asks for it with `X-Silk-Profile: 1` (such a
request is always recorded, whatever the sampling). Imported by settings only when silk is on.
"""

from __future__ import annotations

import os
import random
import traceback
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.encoding import force_str
from silk.collector import DataCollector
from silk.middleware import SilkyMiddleware

from workflows.opsauth import is_staff

PROFILE_HEADER = "X-Silk-Profile"
#: Scrapes, probes and the profiling pages would only crowd out real traffic.
IGNORED_PREFIXES = ("/metrics", "/healthz", "/readyz", "/debug/pprof/", "/static/", "/silk/")


def _asks_for_profile(request: HttpRequest) -> bool:
    cached = getattr(request, "_thaiyyal_silk_profile", None)
    if cached is None:
        cached = request.headers.get(PROFILE_HEADER) == "1" and is_staff(request)
        request._thaiyyal_silk_profile = cached  # type: ignore[attr-defined]
    return cached


def should_record(request: HttpRequest) -> bool:
    """SILKY_INTERCEPT_FUNC: sampled, plus every staff request asking for a profile."""
    if request.path.startswith(IGNORED_PREFIXES):
        return False
    if _asks_for_profile(request):
        return True
    percent = float(getattr(settings, "SILKY_INTERCEPT_PERCENT", 10))
    return random.random() * 100.0 < percent


def should_profile(request: HttpRequest) -> bool:
    """SILKY_PYTHON_PROFILER_FUNC: cProfile this request?"""
    return os.environ.get("THAIYYAL_SILK_PROFILER") == "1" or _asks_for_profile(request)


#: Recorded SQL is stored with its parameters: leave out the queries that carry
#: credentials (API token keys, session keys).
IGNORED_QUERIES = ['"authtoken_token"', '"django_session"']
MAX_RECORDED_SQL = 10_000  # characters: a bulk insert of node runs can be long


class SilkMiddleware(SilkyMiddleware):
    """silk's middleware, also recording INSERT statements: silk wraps only
    SQLCompiler.execute_sql, which Django's insert compiler overrides, so without this the
    run and node-run rows an execute request writes would not show in silk."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        _record_inserts()


def _record_inserts() -> None:
    from django.db.models.sql.compiler import SQLInsertCompiler

    if getattr(SQLInsertCompiler, "_thaiyyal_silk", False):
        return
    original = SQLInsertCompiler.execute_sql

    def execute_sql(self: SQLInsertCompiler, *args: Any, **kwargs: Any) -> Any:
        collector = DataCollector()
        if collector.request is None or self.query.model.__module__ == "silk.models":
            return original(self, *args, **kwargs)
        started = timezone.now()
        try:
            return original(self, *args, **kwargs)
        finally:
            _register(collector, self.as_sql(), started)

    SQLInsertCompiler.execute_sql = execute_sql  # type: ignore[method-assign]
    SQLInsertCompiler._thaiyyal_silk = True  # type: ignore[attr-defined]


def _register(collector: DataCollector, statements: list[tuple[str, Any]],
              started: Any) -> None:
    for sql, params in statements:
        try:
            text = sql % tuple(force_str(p) for p in params)
        except (TypeError, ValueError, UnicodeDecodeError):
            text = sql
        if any(ignored in text for ignored in IGNORED_QUERIES):
            continue
        if len(text) > MAX_RECORDED_SQL:
            text = text[:MAX_RECORDED_SQL] + " ..."
        collector.register_query({
            "query": text, "start_time": started, "end_time": timezone.now(),
            "request": collector.request,
            "traceback": "".join(reversed(traceback.format_stack()))})
