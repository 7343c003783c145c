from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from thaiyyal.landing import landing

urlpatterns = [
    path("", landing, name="landing"),
    path("admin/", admin.site.urls),
    # benchmark-only floors, empty unless THAIYYAL_BENCH_ENDPOINTS=1 (make bench-api)
    path("api/v1/bench/", include("workflows.api.bench")),
    path("api/v1/", include("workflows.api.urls")),
    # Public, and the same for everyone: no authentication, so no token or session lookup
    # (they answer with the database down).
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[]), name="schema"),
    # The split view serves its start-up script as a file (?script): no inline script,
    # so the page works under the strict Content-Security-Policy.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema",
                                                          authentication_classes=[]),
         name="api-docs"),
    # /metrics, /debug/pprof/, /silk/ (observability; see docs/performance.md)
    path("", include("workflows.ops_urls")),
]

handler400 = "thaiyyal.errors.bad_request"
handler404 = "thaiyyal.errors.not_found"
handler500 = "thaiyyal.errors.server_error"
