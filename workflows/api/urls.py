"""`/api/v1/` routes. A trailing slash is optional everywhere (`/runs` and `/runs/`), so a
POST never meets a redirect."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from workflows.api import compat, credentials, hooks, views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("workflows", views.WorkflowViewSet, basename="workflow")
router.register("runs", views.RunViewSet, basename="run")
router.register("credentials", credentials.CredentialViewSet, basename="credential")

urlpatterns = [
    re_path(r"^workflow/execute/?$", views.ExecuteView.as_view(), name="workflow-execute"),
    re_path(r"^node-types/?$", views.NodeTypesView.as_view(), name="node-types"),
    re_path(r"^workflow/validate/?$", views.ValidateView.as_view(), name="workflow-validate"),
    re_path(r"^hooks/(?P<secret>[A-Za-z0-9_-]{16,64})/?$", hooks.WebhookView.as_view(),
            name="webhook"),
    # Thaiyyal's own paths
    re_path(r"^workflow/save/?$", compat.save, name="thaiyyal-save"),
    re_path(r"^workflow/list/?$", compat.list_workflows, name="thaiyyal-list"),
    re_path(r"^workflow/load/(?P<pk>\d+)/?$", compat.load, name="thaiyyal-load"),
    re_path(r"^workflow/delete/(?P<pk>\d+)/?$", compat.delete, name="thaiyyal-delete"),
    re_path(r"^workflow/execute/(?P<pk>\d+)/?$", compat.ExecuteById.as_view(),
            name="thaiyyal-execute"),
    *router.urls,
]
