"""Fixtures for platform tests: an admin user and workflows to work on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ADD, DIVIDE_BY_ZERO, GREETING  # noqa: F401 - shared payloads
from workflows import services
from workflows.models import Workflow


@pytest.fixture
def admin_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-pw-1")


@pytest.fixture
def greeting(admin_user: Any) -> Workflow:
    return services.create_workflow(owner=admin_user, name="Greeting", definition=GREETING)
