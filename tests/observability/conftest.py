"""Fixtures for the observability tests: users, clients, a loopback HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.httpserver import LoopbackHTTPServer


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    cache.clear()


def token_client(user: Any) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("olga", password="olga-password-1")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("stan", password="stan-password-1",
                                                 is_staff=True)


@pytest.fixture
def api(user: Any) -> APIClient:
    return token_client(user)


@pytest.fixture
def staff_api(staff: Any) -> APIClient:
    return token_client(staff)


@pytest.fixture
def staff_session(staff: Any) -> APIClient:
    client = APIClient()
    client.force_login(staff)
    return client


@pytest.fixture(scope="module")
def http_server() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """http nodes may call 127.0.0.1 (the egress guard refuses loopback by default)."""
    monkeypatch.setenv("THAIYYAL_HTTP_ALLOWED_NETWORKS", "127.0.0.1/32")
