"""django-silk policy: which requests silk records and which it profiles.

Silk is on only with THAIYYAL_SILK=1 (settings). It then records a sample of requests
(THAIYYAL_SILK_PERCENT, default 10) with their SQL, and runs cProfile on a request when
THAIYYAL_SILK_PROFILER=1 or when a staff user asks for it with `X-Silk-Profile: 1` (such a
request is always recorded, whatever the sampling). Imported by settings only when silk is on.
"""

from __future__ import annotations

import os
import random

from django.conf import settings
from django.http import HttpRequest

from workflows.opsauth import is_staff

PROFILE_HEADER = "X-Silk-Profile"
#: Scrapes, probes and the profiling pages would only crowd out real traffic; a webhook's
#: path is its secret, which silk would store and show.
IGNORED_PREFIXES = ("/metrics", "/healthz", "/readyz", "/debug/pprof/", "/static/", "/silk/",
                    "/api/v1/hooks/")


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
