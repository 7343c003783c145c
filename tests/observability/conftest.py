"""Fixtures for the observability tests: users, clients, a loopback HTTP server."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

# The API tests' own helpers: token clients, and throttle counts cleared per test.
from tests.api.conftest import _fresh_throttle_counts, token_client  # noqa: F401


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


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """http nodes may call 127.0.0.1 (the egress guard refuses loopback by default)."""
    monkeypatch.setenv("THAIYYAL_HTTP_ALLOWED_NETWORKS", "127.0.0.1/32")
