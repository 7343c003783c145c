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

#: fields with fixed choices (an operation's op, a text operation, a method, a duration's
#: unit), each with a value outside them, where it is refused and the allowed values the
#: refusal must name. Validate and save both refuse each one.
ALLOWED_UNITS = "a number with one of the units ms, s, m, h"
REFUSED_CHOICES = [
    pytest.param({"type": "operation", "data": {"op": "sqrt"}}, "data.op",
                 "must be one of add, subtract, multiply, divide, modulo, power; got 'sqrt'",
                 id="op"),
    pytest.param({"type": "text_operation", "data": {"text_op": "reverse"}}, "data.text_op",
                 "must be one of uppercase, lowercase, titlecase, camelcase, inversecase, "
                 "concat, repeat; got 'reverse'", id="text_op"),
    pytest.param({"type": "http", "data": {"url": "http://127.0.0.1/", "method": "FETCH"}},
                 "data.method", "must be one of get, post, put, patch, delete, head; "
                 "got 'FETCH'", id="method"),
    pytest.param({"type": "retry", "data": {"max_attempts": 2, "backoff_strategy": "often"}},
                 "data.backoff_strategy", "must be one of constant, linear, exponential; "
                 "got 'often'", id="backoff"),
    pytest.param({"type": "delay", "data": {"duration": "5 days"}}, "data.duration",
                 f"not a duration: '5 days' (a number of seconds, or {ALLOWED_UNITS}: "
                 "500ms, 30s, 10m, 1h)", id="duration-unit"),
    pytest.param({"type": "timeout", "data": {"timeout": "2w", "timeout_action": "error"}},
                 "data.timeout", f"not a duration: '2w' (a number of seconds, or "
                 f"{ALLOWED_UNITS}: 500ms, 30s, 10m, 1h)", id="timeout-unit"),
]


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
