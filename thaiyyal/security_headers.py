"""Content-Security-Policy and Permissions-Policy on every response.

The policy lives in one place, settings.THAIYYAL_CSP (a directive -> sources mapping);
THAIYYAL_CSP_RELAXED maps a path prefix to sources added there (django-silk's pages need
inline script). Pages this project serves load script only from files under /static/
(`script-src 'self'`): no inline <script> and no inline event handlers, so an injected
tag cannot run. JSON answers get the same header: harmless, and a browser that is tricked
into rendering one still runs nothing. Django's SecurityMiddleware adds the other headers
(nosniff, Referrer-Policy, Cross-Origin-Opener-Policy, HSTS over HTTPS), and
XFrameOptionsMiddleware X-Frame-Options: DENY.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse


def render_policy(policy: Mapping[str, Sequence[str]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in policy.items())


@cache
def _policies() -> tuple[str, tuple[tuple[str, str], ...]]:
    base: dict[str, list[str]] = {k: list(v) for k, v in settings.THAIYYAL_CSP.items()}
    relaxed = []
    for prefix, extra in settings.THAIYYAL_CSP_RELAXED.items():
        merged = {k: list(v) for k, v in base.items()}
        for name, sources in extra.items():
            merged[name] = merged.get(name, []) + [s for s in sources
                                                    if s not in merged.get(name, [])]
        relaxed.append((prefix, render_policy(merged)))
    return render_policy(base), tuple(relaxed)


def policy_for(path: str) -> str:
    default, relaxed = _policies()
    for prefix, policy in relaxed:
        if path.startswith(prefix):
            return policy
    return default


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", policy_for(request.path))
        response.headers.setdefault("Permissions-Policy", settings.THAIYYAL_PERMISSIONS_POLICY)
        # Also here: a response made before XFrameOptionsMiddleware (a middleware that
        # answers early, such as the 404 one) would go without it.
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response


@receiver(setting_changed)
def _forget(setting: str, **kwargs: object) -> None:
    if setting in {"THAIYYAL_CSP", "THAIYYAL_CSP_RELAXED"}:
        _policies.cache_clear()
