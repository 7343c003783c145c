"""Every bad input is a JSON 400 naming the field: the cases found by trying, then a
property test that puts such values anywhere in the body of every write endpoint."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import ADD, GREETING, token_client
from workflows import services
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

SAVE = "/api/v1/workflow/save"


@pytest.mark.parametrize("field", ["name", "description"])
@pytest.mark.parametrize("text", ["a\x00b", "\x00"])
def test_a_nul_in_name_or_description_on_save_is_400_naming_it(api, field, text):
    body = {"name": "ok", "data": ADD, field: text}
    response = api.post(SAVE, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["details"] == [
        {"path": f"$.{field}", "message": "must not contain NUL characters (\\x00)"}]
    assert not Workflow.objects.exists()


@pytest.mark.parametrize("bad_id", [True, False, 1.0, 1.5, "1.0", " 1", "-1", 0, 2**63, [1],
                                    {"id": 1}, "١"])
def test_a_save_id_that_is_not_a_workflow_id_is_400_and_updates_nothing(user, bad_id):
    # Before, `true` was read as id 1 (and 1.5 as 1): whichever workflow had that id
    # got renamed. Now it is refused before any workflow is looked up.
    first = services.create_workflow(owner=user, name="first", definition=ADD)
    response = token_client(user).post(SAVE, {"id": bad_id, "name": "renamed", "data": ADD},
                                       format="json")

    assert response.status_code == 400, response.content
    assert [d["path"] for d in response.json()["details"]] == ["$.id"]
    first.refresh_from_db()
    assert first.name == "first"
    assert Workflow.objects.count() == 1


def test_a_string_id_of_digits_still_saves_a_new_version(api, user):
    workflow = services.create_workflow(owner=user, name="first", definition=ADD)
    response = api.post(SAVE, {"id": str(workflow.pk), "name": "renamed", "data": GREETING},
                        format="json")

    assert response.status_code == 201, response.content
    workflow.refresh_from_db()
    assert (workflow.name, workflow.current_version.number) == ("renamed", 2)


@pytest.mark.parametrize(("url", "text", "path"), [
    ("/api/v1/workflow/execute",
     '{"nodes": [{"id": "n", "type": "number", "data": {"value": 1e400}}]}',
     "$.nodes[0].data.value"),
    ("/api/v1/workflow/validate",
     '{"nodes": [{"id": "c", "type": "context_variable", "data": {"context_values": '
     '[{"name": "x", "value": -2E+999, "type": "number"}]}}]}',
     "$.nodes[0].data.context_values[0].value"),
    ("{stored}/execute", '{"inputs": {"times": 1e400}}', "$.inputs.times"),
    # as text: a number input's numeric string is converted, and must not become "inf"
    ("{stored}/execute", '{"inputs": {"times": "1e400"}}', "$.inputs.times"),
    # a short exponent on a long number overflows too
    ("/api/v1/workflow/validate",
     '{"nodes": [{"id": "n", "type": "number", "data": {"value": ' + "9" * 250 + 'e99}}]}',
     "$.nodes[0].data.value"),
])
def test_a_number_too_large_for_a_double_is_400_naming_its_path(api, user, url, text, path):
    stored = services.create_workflow(owner=user, name="g", definition=GREETING)
    url = url.format(stored=f"/api/v1/workflows/{stored.pk}")
    response = api.post(url, data=text, content_type="application/json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["details"][0]["path"] == path
    assert re.search("out of range|not a finite number", json.dumps(body)), body
    assert "inf" not in response.content.decode().replace("info", "")


def test_an_unknown_host_is_a_json_400_naming_the_header(api):
    response = api.get("/api/v1/workflows/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["details"] == [{
        "path": "$.headers.Host",
        "message": "'evil.example' is not a host this server answers for (ALLOWED_HOSTS)"}]


def test_an_unknown_host_on_a_page_is_json_too(client):
    response = client.get("/admin/login/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response.json()["error"] == "unknown Host header"


# --- The property: awkward values anywhere in any write body, never a 5xx. ----------------

#: raw JSON texts, spliced into bodies as they are (1e400 cannot come from json.dumps)
AWKWARD_JSON = ["1e400", "-1e400", "1E+309", "0.0", "true", "false", "null", "[]", "{}",
                '"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"\\udfff x"', "9223372036854775808",
                "-9223372036854775809", "1" + "0" * 400, '"1e400"', '"' + "x" * 300 + '"',
                '"NaN"', "1.5", "-1", "0"]
MARK = "__AWKWARD__"


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


def _splice(document: Any, path: tuple[Any, ...], raw: str, as_key: bool) -> str:
    """`document` as JSON text with the value at `path` replaced by `raw` (or, as_key,
    a new key named by raw's string form added to the object there)."""
    document = json.loads(json.dumps(document))
    if not path and not as_key:
        return raw
    target = document
    for step in path[:-1] if not as_key else path:
        target = target[step]
    if as_key:
        if not isinstance(target, dict):
            return json.dumps(document)
        target[MARK] = MARK
        text = json.dumps(document, ensure_ascii=True)
        key = raw if raw.startswith('"') else json.dumps(raw)
        return text.replace(f'"{MARK}": "{MARK}"', f"{key}: 1")
    target[path[-1]] = MARK
    return json.dumps(document, ensure_ascii=True).replace(f'"{MARK}"', raw)


def _write_calls(workflow: Workflow) -> list[tuple[str, str, Any]]:
    """(method, url, a valid body) for every write operation the schema publishes (POST,
    PUT, PATCH: 14), save twice (create and update)."""
    from django.utils import timezone

    from workflows.credentials import set_secret
    from workflows.models import Credential, Run, RunStatus

    w = f"/api/v1/workflows/{workflow.pk}"
    save = {"name": "n", "description": "d", "data": ADD}
    Credential.objects.filter(owner=workflow.owner).delete()
    credential = Credential(owner=workflow.owner, name="kept", kind="bearer",
                            base_url="http://127.0.0.1:9/")
    set_secret(credential, {"token": "t0ken"})
    credential.save()
    c = f"/api/v1/credentials/{credential.pk}/"
    hook = services.rotate_webhook_secret(workflow)
    now = timezone.now()
    queued = Run.objects.create(status=RunStatus.QUEUED, started_at=now, queued_at=now,
                                requested_by=workflow.owner, payload=ADD, node_count=3)
    return [
        ("post", "/api/v1/credentials/", {"name": "new", "kind": "basic",
                                          "base_url": "https://api.example.com/",
                                          "username": "u", "password": "p"}),
        ("put", c, {"name": "kept", "kind": "bearer", "base_url": "http://127.0.0.1:9/",
                    "header": "", "token": "t2"}),
        ("patch", c, {"base_url": "https://other.example.com/", "token": "t1"}),
        ("post", f"/api/v1/hooks/{hook}", {"name": "x", "times": 2}),
        # cancel reads no body; one sent anyway must not change the answer's kind
        ("post", f"/api/v1/runs/{queued.pk}/cancel", {"reason": "r", "n": [1, 2]}),
        ("post", "/api/v1/workflow/execute", ADD),
        ("post", "/api/v1/workflow/validate", ADD),
        ("post", "/api/v1/workflows/", {"name": "n", "description": "d", "definition": ADD}),
        ("put", f"{w}/", {"name": "n", "description": "d", "definition": GREETING}),
        ("patch", f"{w}/", {"name": "n", "definition": GREETING}),
        ("post", f"{w}/execute", {"inputs": {"name": "x", "times": 2}}),
        ("post", f"{w}/versions/1/execute", {"inputs": {"name": "x", "times": 2}}),
        ("post", SAVE, save),
        ("post", SAVE, {**save, "id": str(workflow.pk)}),
        ("post", f"/api/v1/workflow/execute/{workflow.pk}", {"inputs": {"times": 3}}),
    ]


EXAMPLES = int(os.environ.get("THAIYYAL_FUZZ_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_awkward_values_anywhere_in_any_write_body_get_a_json_4xx_or_2xx(user, data):
    # A fresh workflow each example: what an earlier example saved cannot change the
    # answer to this one (Hypothesis must be able to replay a failure).
    workflow = services.create_workflow(owner=user, name="g", definition=GREETING)
    cache.clear()  # the webhook's anonymous rate would count every example's call
    client = token_client(user)
    method, url, valid = data.draw(st.sampled_from(_write_calls(workflow)), label="call")
    path = data.draw(st.sampled_from(_paths(valid)), label="path")
    raw = data.draw(st.sampled_from(AWKWARD_JSON), label="value")
    as_key = data.draw(st.booleans(), label="as_key")
    text = _splice(valid, path, raw, as_key)
    response = getattr(client, method)(url, data=text.encode("utf-8", "surrogatepass"),
                                       content_type="application/json")

    assert response.status_code < 500, (url, text, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    answer = response.json()
    if response.status_code >= 400 and response.status_code != 422:
        assert answer["details"], answer
        assert all(d["path"].startswith("$") for d in answer["details"]), answer
    # A value the server cannot hold never comes back changed into something else.
    assert '"inf"' not in response.content.decode().lower()
    assert "Infinity" not in response.content.decode()


def test_the_property_test_covers_every_published_write_operation_with_a_body_it_accepts(
        user):
    from django.test import Client

    schema = Client().get("/api/schema/?format=json").json()
    published = {(method, path) for path, item in schema["paths"].items()
                 for method in item if method in ("post", "put", "patch")}
    client = token_client(user)
    covered = set()
    shapes = len(_write_calls(services.create_workflow(owner=user, name="g",
                                                       definition=GREETING)))
    for i in range(shapes):
        # a fresh workflow for each, as in the property test (save may replace it)
        workflow = services.create_workflow(owner=user, name="g", definition=GREETING)
        method, url, valid = _write_calls(workflow)[i]
        matching = {(m, p) for m, p in published if m == method and re.fullmatch(
            re.sub(r"\{[^}]+\}", "[^/]+", p.rstrip("/")), url.rstrip("/"))}
        assert len(matching) == 1, (method, url, sorted(published))
        covered |= matching
        cache.clear()
        response = getattr(client, method)(url, data=json.dumps(valid),
                                           content_type="application/json")
        # unchanged, each body is accepted: the splices are what make an answer a 4xx
        assert response.status_code < 300, (method, url, response.content[:300])
    assert covered == published, published - covered
    assert len(published) == 14
