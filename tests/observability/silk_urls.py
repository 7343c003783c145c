"""The project's URLs with silk mounted, as THAIYYAL_SILK=1 mounts it (tests switch silk on
after the URL configuration was loaded)."""

from django.urls import include, path

from thaiyyal.urls import handler404, handler500
from thaiyyal.urls import urlpatterns as project_urls

urlpatterns = [*project_urls, path("silk/", include("silk.urls", namespace="silk"))]

__all__ = ["handler404", "handler500", "urlpatterns"]
