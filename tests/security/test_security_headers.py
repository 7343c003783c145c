"""Every HTML page the URL conf serves carries the Content-Security-Policy (script from
this origin's files only) and the other security headers, and has no inline script for
that policy to block. The pages are found by walking the URL conf, so a new page is
checked without anyone remembering to add it here."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.api.conftest import ADD
from thaiyyal.security_headers import policy_for
from workflows import services
from workflows.credentials import set_secret
from workflows.models import Credential, IdempotencyKey

pytestmark = pytest.mark.django_db


def _routes(patterns=None, prefix: str = "") -> list[str]:
    found = []
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            found += _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            found.append(prefix + str(p.pattern))
    return found


class _Scripts(HTMLParser):
    """Inline scripts and inline event handlers in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        handlers = [n for n in names if n.startswith("on")]
        if handlers:
            self.inline.append(f"<{tag} {handlers[0]}=...>")
        if any((v or "").strip().lower().startswith("javascript:") for v in names.values()):
            self.inline.append(f"<{tag} ...javascript:>")
        if tag == "script":
            kind = (names.get("type") or "text/javascript").lower()
            self._in_script = "src" not in names and "json" not in kind

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"<script>{data.strip()[:60]}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


@pytest.fixture
def objects(admin_user):
    """One object of each model the admin manages, and what the URL placeholders need."""
    workflow = services.create_workflow(owner=admin_user, name="w", definition=ADD)
    execution = services.execute_version(workflow.current_version, user=admin_user)
    credential = Credential(owner=admin_user, name="c", kind="bearer",
                            base_url="https://example.com")
    set_secret(credential, {"token": "t"})
    credential.save()
    Group.objects.create(name="g")
    Token.objects.create(user=admin_user)
    IdempotencyKey.objects.create(user=admin_user, key="k", request_hash="h",
                                  run_id=execution.run_id)
    AccessAttempt.objects.create(username="u", ip_address="127.0.0.1", user_agent="x",
                                 failures_since_start=1, attempt_time=timezone.now())
    AccessLog.objects.create(username="u", ip_address="127.0.0.1", user_agent="x",
                             attempt_time=timezone.now())
    AccessFailureLog.objects.create(username="u", ip_address="127.0.0.1", user_agent="x",
                                    attempt_time=timezone.now())
    return {"workflow": workflow, "run_id": execution.run_id, "user": admin_user}


def _urls(route: str, objects) -> list[str]:
    """Concrete URLs for a route of the URL conf ([] for the JSON API's)."""
    if route.startswith(("api/v1/", "api/schema/")) or route == "metrics":
        return []  # JSON / text answers (checked by the API tests and schemathesis)
    if "(?P<app_label>" in route:
        labels = re.search(r"\(\?P<app_label>([^)]*)\)", route).group(1).split("|")
        return [f"/admin/{label}/" for label in labels]
    if "(?P<url>.*)" in route:
        return ["/admin/no-such-page/"]
    if "<path:content_type_id>" in route:
        return []  # view_on_site: a redirect to the object's own site
    match = re.match(r"admin/(\w+)/(\w+)/<path:object_id>/", route)
    if match:
        model = apps.get_model(match.group(1), match.group(2))
        instance = model._base_manager.order_by("pk").first()
        if instance is None and match.group(1) != "workflows":
            return []  # another app's model with no row: its list and add pages are checked
        assert instance is not None, f"no {model.__name__} to show: add one to `objects`"
        return ["/" + route.replace("<path:object_id>", str(instance.pk))]
    workflow = objects["workflow"]
    url = (route.replace("<int:pk>", str(workflow.pk)).replace("<int:number>", "1")
           .replace("<id>", str(objects["user"].pk)))
    assert not re.search(r"<|\(\?", url), f"no sample value for {route}"
    return ["/" + url]


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _check_page(url: str, response) -> list[str]:
    problems = []
    csp = response.get("Content-Security-Policy", "")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
    # Third-party staff pages with inline script get it allowed (THAIYYAL_CSP_RELAXED);
    # every other page runs script from files only.
    relaxed = any(url.startswith(prefix) for prefix in settings.THAIYYAL_CSP_RELAXED)
    expected = "'self' 'unsafe-inline'" if relaxed else "'self'"
    if directives.get("script-src") != expected:
        problems.append(f"{url}: script-src is {directives.get('script-src')!r}")
    for name in ("object-src", "frame-ancestors"):
        if directives.get(name) != "'none'":
            problems.append(f"{url}: {name} is {directives.get(name)!r}")
    for header, value in SECURITY_HEADERS.items():
        if response.get(header) != value:
            problems.append(f"{url}: {header} is {response.get(header)!r}")
    if "camera=()" not in response.get("Permissions-Policy", ""):
        problems.append(f"{url}: no Permissions-Policy")
    if not relaxed:
        parser = _Scripts()
        parser.feed(response.content.decode(errors="replace"))
        problems += [f"{url}: inline script {found}" for found in parser.inline]
    return problems


def test_every_html_page_has_a_strict_csp_the_security_headers_and_no_inline_script(
        admin_client, objects):
    pages, problems = [], []
    urls = [u for route in _routes() for u in _urls(route, objects)]
    urls += ["/no-such-page/", "/api/docs/"]
    for url in urls:
        response = admin_client.get(url, follow=True)
        if not response["Content-Type"].startswith("text/html"):
            continue
        pages.append(url)
        problems += _check_page(url, response)
    # Pages a stranger sees: the login form (also where /admin/ sends them) ...
    stranger = Client()
    for url in ("/admin/login/", "/admin/"):
        response = stranger.get(url, follow=True)
        pages.append(url)
        problems += _check_page(url, response)
    # ... and the answer to a login locked out by axes (its own page, a 429).
    for i in range(settings.AXES_FAILURE_LIMIT):
        locked = stranger.post("/admin/login/", {"username": "nobody", "password": f"x{i}"})
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    pages.append("/admin/login/ (locked out)")
    problems += _check_page("/admin/login/ (locked out)", locked)

    assert problems == [], "\n".join(problems)
    print("HTML pages checked:", len(pages))
    # every admin page of every model, the docs, the 404, the login and lockout pages
    assert len(pages) >= 90, pages


def test_the_api_docs_page_loads_its_start_up_script_as_a_file(client):
    page = client.get("/api/docs/")
    script = re.search(r'<script src="([^"]*\?script[^"]*)"', page.content.decode())
    assert script is not None
    answer = client.get(script.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in answer.content.decode()


def test_only_silk_and_celery_beat_pages_get_inline_script_and_json_answers_get_the_policy(
        api):
    assert "'unsafe-inline'" not in policy_for("/admin/").split("script-src")[1].split(";")[0]
    assert "script-src 'self' 'unsafe-inline'" in policy_for("/silk/requests/")
    assert "script-src 'self' 'unsafe-inline'" in policy_for(
        "/admin/django_celery_beat/periodictask/add/")
    assert set(settings.THAIYYAL_CSP_RELAXED) == {"/silk/", "/admin/django_celery_beat/"}
    response = api.get("/api/v1/workflows/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
