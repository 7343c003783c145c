"""Fixtures for the API tests: users, authenticated clients, stored workflows."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from workflows import services
from workflows.models import Workflow

#: 2 + 3 -> 5
ADD = {
    "nodes": [
        {"id": "a", "type": "number", "data": {"value": 2}},
        {"id": "b", "type": "number", "data": {"value": 3}},
        {"id": "sum", "type": "operation", "data": {"op": "add"}},
    ],
    "edges": [{"source": "a", "target": "sum"}, {"source": "b", "target": "sum"}],
}

#: 10 / 0 fails at node "div" after "a" and "zero" ran
DIVIDE_BY_ZERO = {
    "nodes": [
        {"id": "a", "type": "number", "data": {"value": 10}},
        {"id": "zero", "type": "number", "data": {"value": 0}},
        {"id": "div", "type": "operation", "data": {"op": "divide"}},
    ],
    "edges": [{"source": "a", "target": "div"}, {"source": "zero", "target": "div"}],
}

#: greets context.name, `times` times: inputs override both
GREETING = {
    "nodes": [
        {"id": "ctx", "type": "context_variable", "data": {"context_values": [
            {"name": "name", "value": "world", "type": "string"},
            {"name": "times", "value": 1, "type": "number"}]}},
        {"id": "greet", "type": "expression",
         "data": {"expression": "'hello ' + context.name + ' x' + context.times"}},
    ],
    "edges": [],
}


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
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def staff_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("sam", password="sam-password-1",
                                                 is_staff=True)


@pytest.fixture
def api(user: Any) -> APIClient:
    return token_client(user)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def greeting(user: Any) -> Workflow:
    return services.create_workflow(owner=user, name="Greeting", definition=GREETING)


@pytest.fixture
def adder(user: Any) -> Workflow:
    return services.create_workflow(owner=user, name="Adder", definition=ADD)
