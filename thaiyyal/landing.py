"""`/`: where a new user starts. Links to the admin, the API docs, the run history and
the operations endpoints this server has switched on."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse


def landing(request: HttpRequest) -> HttpResponse:
    operations = [("/healthz", "liveness probe"), ("/readyz", "readiness probe (database)"),
                  (reverse("metrics"), "Prometheus metrics (staff or the metrics token)")]
    if settings.THAIYYAL_PPROF:
        operations.append(("/debug/pprof/", "profiling (staff)"))
    if settings.THAIYYAL_SILK:
        operations.append(("/silk/", "request profiles (staff)"))
    context = {**admin.site.each_context(request), "title": "Thaiyyal",
               "operations": operations,
               "links": [(reverse("admin:index"), "Administration: workflows, versions, runs"),
                         (reverse("admin:workflows_workflow_changelist"), "Workflows"),
                         (reverse("admin:workflows_run_changelist"), "Run history"),
                         (reverse("api-docs"), "API documentation (Swagger UI)"),
                         (reverse("schema"), "OpenAPI schema")]}
    return TemplateResponse(request, "landing.html", context)
