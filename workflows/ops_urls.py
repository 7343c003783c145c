"""Operations URLs: /metrics, /debug/pprof/ and, when THAIYYAL_SILK=1, /silk/.

Included at the root by thaiyyal/urls.py. /healthz and /readyz are answered earlier, by
thaiyyal.health.ProbeMiddleware.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from workflows.metrics import metrics_view

urlpatterns: list[URLPattern | URLResolver] = [
    path("metrics", metrics_view, name="metrics"),
    path("debug/pprof/", include("workflows.debug")),
]
if getattr(settings, "THAIYYAL_SILK", False):
    urlpatterns.append(path("silk/", include("silk.urls", namespace="silk")))
