"""Stored credentials: encrypted at rest, write-only in the API and the admin, each
owner's own, used by http and paginator nodes by name, sent only to their base_url;
after runs that used one, the secret is nowhere: not in run records, node outputs,
errors, logs, silk recordings, metrics or API answers."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from typing import Any

import prometheus_client
import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.test import override_settings
from silk.config import SilkyConfig
from silk.models import Request as SilkRequest

from tests.api.conftest import token_client
from tests.observability.test_silk import silk_settings
from workflows import secrets
from workflows.credentials import engine_config
from workflows.models import Credential, NodeRun, Run

pytestmark = pytest.mark.django_db

TOKEN = "tZq8pW2mK7vL4711"
PASSWORD = "pKx3nR8qT1zB0815"
KEY = "kMv9hJ5wE6yD2342"
USERNAME = "uNq7cF3sA9gH1357"
BASIC = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
SECRETS = (TOKEN, PASSWORD, KEY, USERNAME, BASIC)
URL = "/api/v1/credentials/"


@pytest.fixture
def loopback_allowed(http_server) -> Iterator[None]:
    with override_settings(THAIYYAL_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32"]):
        yield


def _create(client, http_server, **fields):
    body = {"base_url": http_server.origin, **fields}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response



def stored_and_logged(caplog: Any, capfd: Any) -> dict[str, str]:
    """Where a leaked secret would be kept: every row of every table (runs, node runs,
    silk's requests, bodies and SQL, axes...), the log records, stdout and stderr."""
    places = {f"table {model._meta.db_table}": serializers.serialize(
        "json", model._base_manager.all()) for model in apps.get_models()}
    places["logs"] = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    out, err = capfd.readouterr()
    places["stdout/stderr"] = out + err
    return places

def test_creating_a_credential_never_answers_or_stores_the_secret_in_clear(api, http_server):
    response = _create(api, http_server, name="billing", kind="bearer", token=TOKEN)

    body = response.json()
    assert set(body) == {"id", "name", "kind", "base_url", "header", "created_at",
                         "updated_at"}
    assert TOKEN not in response.content.decode()
    stored = Credential.objects.get(pk=body["id"])
    assert TOKEN not in stored.encrypted
    assert engine_config(stored)["auth"] == {"type": "bearer", "token": TOKEN}
    for answer in (api.get(URL), api.get(f"{URL}{stored.pk}/")):
        assert answer.status_code == 200
        assert TOKEN not in answer.content.decode()


@pytest.mark.parametrize(("fields", "missing"), [
    ({"kind": "bearer"}, ["$.token"]),
    ({"kind": "basic", "username": "u"}, ["$.password"]),
    ({"kind": "api_key", "token": "t"}, ["$.api_key", "$.token"]),
    ({"kind": "bearer", "token": "t", "base_url": "ftp://x"}, ["$.base_url"]),
    ({"kind": "bearer", "token": "t\x00"}, ["$.token"]),
    ({"kind": "bearer", "token": "t", "header": "bad header"}, ["$.header"]),
])
def test_a_credential_missing_its_secret_or_malformed_is_400_naming_the_field(
        api, http_server, fields, missing):
    body = {"name": "x", "base_url": http_server.origin, **fields}
    response = api.post(URL, body, format="json")

    assert response.status_code == 400, response.content
    assert sorted(d["path"] for d in response.json()["details"]) == missing


def test_a_duplicate_name_is_400_naming_it(api, http_server):
    _create(api, http_server, name="same", kind="bearer", token=TOKEN)
    response = api.post(URL, {"name": "same", "kind": "bearer", "token": "x",
                              "base_url": http_server.origin}, format="json")
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "$.name"


def test_owners_see_only_their_own_credentials_staff_included(
        api, user, other_user, staff_user, http_server):
    mine = _create(api, http_server, name="mine", kind="bearer", token=TOKEN).json()

    for someone in (other_user, staff_user):
        client = token_client(someone)
        assert client.get(URL).json()["results"] == []
        for method in ("get", "delete"):
            assert getattr(client, method)(f"{URL}{mine['id']}/").status_code == 404
        assert client.patch(f"{URL}{mine['id']}/", {"name": "x"},
                            format="json").status_code == 404
    assert Credential.objects.get(pk=mine["id"]).name == "mine"


def test_updating_without_a_secret_keeps_it_and_with_one_replaces_it(api, http_server):
    created = _create(api, http_server, name="k", kind="api_key", api_key=KEY, header="X-Key")
    pk = created.json()["id"]

    assert api.patch(f"{URL}{pk}/", {"name": "k2"}, format="json").status_code == 200
    assert engine_config(Credential.objects.get(pk=pk))["auth"]["value"] == KEY
    assert api.patch(f"{URL}{pk}/", {"api_key": "new-key"}, format="json").status_code == 200
    assert engine_config(Credential.objects.get(pk=pk))["auth"]["value"] == "new-key"
    changed = api.patch(f"{URL}{pk}/", {"kind": "bearer"}, format="json")
    assert changed.status_code == 400
    assert changed.json()["details"][0]["path"] == "$.token"


def test_rotation_re_encrypts_with_the_new_key_and_the_old_key_can_then_go(api, http_server):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[old]):
        pk = _create(api, http_server, name="r", kind="bearer", token=TOKEN).json()["id"]
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[new, old]):
        out = io.StringIO()
        call_command("rotate_credentials", stdout=out)
        assert "re-encrypted 1 credential(s)" in out.getvalue()
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[new]):
        assert engine_config(Credential.objects.get(pk=pk))["auth"]["token"] == TOKEN
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[old]), pytest.raises(secrets.InvalidToken):
        engine_config(Credential.objects.get(pk=pk))


def _http(node_id: str, path: str, credential: str, **data) -> dict:
    return {"id": node_id, "type": "http",
            "data": {"url": path, "credential": credential, **data}}


@pytest.fixture
def silk_on() -> Iterator[None]:
    with silk_settings(100):
        SilkyConfig()._setup()
        yield
    SilkyConfig()._setup()


def test_after_runs_that_used_credentials_the_secret_is_nowhere(
        api, user, http_server, loopback_allowed, silk_on, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    _create(api, http_server, name="bearer", kind="bearer", token=TOKEN)
    _create(api, http_server, name="basic", kind="basic", username=USERNAME,
            password=PASSWORD)
    _create(api, http_server, name="key", kind="api_key", api_key=KEY, header="X-Api-Key")
    ok = {"nodes": [_http("a", "/json", "bearer", output="response"),
                    _http("b", "/json", "basic"), _http("c", "/json", "key"),
                    {"id": "n", "type": "http",
                     "data": {"url": "/json", "http_client_uid": "basic"}},
                    {"id": "p", "type": "paginator",
                     "data": {"url": "/pages?size=10", "credential": "bearer",
                              "mode": "page", "page_param": "page", "items_path": "items",
                              "max_pages": 2}}],
          "edges": []}
    failing = {"nodes": [_http("f", "/status?code=500", "key")], "edges": []}
    elsewhere = {"nodes": [_http("e", "http://127.0.0.1:9/x", "bearer")], "edges": []}
    stored = api.post("/api/v1/workflows/", {"name": "uses secrets", "definition": ok},
                      format="json").json()

    answers = [
        api.post("/api/v1/workflow/execute", ok, format="json"),
        api.post("/api/v1/workflow/execute", failing, format="json"),
        api.post("/api/v1/workflow/execute", elsewhere, format="json"),
        api.post(f"/api/v1/workflows/{stored['id']}/execute", {}, format="json"),
    ]
    assert [a.status_code for a in answers] == [200, 422, 422, 200], \
        [a.content[:300] for a in answers]
    # The secrets went where they belong.
    sent = [r.headers for r in http_server.requests if r.path in ("/json", "/pages")]
    assert any(h.get("authorization") == f"Bearer {TOKEN}" for h in sent)
    assert any(h.get("authorization") == "Basic " + BASIC for h in sent)
    assert any(h.get("x-api-key") == KEY for h in sent)
    assert http_server.last("/pages").headers["authorization"] == f"Bearer {TOKEN}"
    assert http_server.last("/status").headers["x-api-key"] == KEY
    assert "outside http client 'bearer'" in answers[2].json()["error"]
    runs = list(Run.objects.all())
    assert len(runs) == 4
    assert NodeRun.objects.count() >= 7
    answers += [api.get("/api/v1/runs/")] + [api.get(f"/api/v1/runs/{r.pk}") for r in runs]
    answers += [api.get("/api/v1/credentials/"), api.get(f"/api/v1/workflows/{stored['id']}/")]
    assert SilkRequest.objects.filter(path="/api/v1/credentials/", method="POST").count() == 3

    places = {f"answer {i}": a.content.decode(errors="replace") for i, a in enumerate(answers)}
    # Every row of every table (runs, node runs, silk's requests, bodies and SQL, axes...):
    # the credential rows hold ciphertext only.
    places |= stored_and_logged(caplog, capfd)
    places["metrics"] = prometheus_client.generate_latest().decode()
    assert len(places) > 20
    for where, text in places.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} found in {where}"
    # The search itself can fail: the names are there, and a place holding a secret is
    # caught (the loopback server's own record of what it received).
    assert "bearer" in places["table workflows_credential"]
    received = repr([r.headers for r in http_server.requests])
    assert TOKEN in received
    assert KEY in received


def test_the_admin_stores_a_credential_encrypted_and_never_shows_its_secret(
        admin_client, admin_user, http_server):
    response = admin_client.post("/admin/workflows/credential/add/", {
        "owner": admin_user.pk, "name": "from-admin", "kind": "bearer",
        "base_url": http_server.origin, "header": "", "token": TOKEN})
    assert response.status_code == 302, response.content.decode()[-2000:]
    credential = Credential.objects.get(name="from-admin")
    assert engine_config(credential)["auth"]["token"] == TOKEN

    page = admin_client.get(f"/admin/workflows/credential/{credential.pk}/change/")
    assert page.status_code == 200
    assert TOKEN not in page.content.decode()
    assert credential.encrypted not in page.content.decode()
    # Saving the form without a secret keeps the one stored.
    kept = admin_client.post(f"/admin/workflows/credential/{credential.pk}/change/", {
        "owner": admin_user.pk, "name": "renamed", "kind": "bearer",
        "base_url": http_server.origin, "header": ""})
    assert kept.status_code == 302
    assert engine_config(Credential.objects.get(pk=credential.pk))["auth"]["token"] == TOKEN


def test_a_named_http_client_is_the_owners_stored_credential_of_that_name(
        api, user, other_user, http_server, loopback_allowed):
    _create(api, http_server, name="helpdesk", kind="bearer", token=TOKEN)
    _create(token_client(other_user), http_server, name="theirs", kind="api_key",
            api_key=KEY, header="X-Api-Key")
    named = {"nodes": [{"id": "h", "type": "http",
                        "data": {"url": "/json", "http_client_uid": "helpdesk"}}],
             "edges": []}
    ran = api.post("/api/v1/workflow/execute", named, format="json")
    assert ran.status_code == 200, ran.content
    assert http_server.last("/json").headers["authorization"] == f"Bearer {TOKEN}"

    # another user's credential is not a client of this user's runs
    theirs = {"nodes": [{"id": "t", "type": "http",
                         "data": {"url": "/json", "http_client_uid": "theirs"}}],
              "edges": []}
    refused = api.post("/api/v1/workflow/execute", theirs, format="json")
    assert refused.status_code == 422
    assert "unknown http_client_uid 'theirs'" in refused.json()["error"]
    # outside the credential's base_url, its client sends nothing
    outside = {"nodes": [{"id": "o", "type": "http",
                          "data": {"url": "http://127.0.0.1:9/x",
                                   "http_client_uid": "helpdesk"}}], "edges": []}
    assert api.post("/api/v1/workflow/execute", outside, format="json").status_code == 422


def test_a_credential_no_key_decrypts_fails_clearly_and_never_shows_its_secret(
        api, http_server, loopback_allowed, caplog):
    from django.core.management.base import CommandError

    lost, current = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[lost]):
        pk = _create(api, http_server, name="orphan", kind="bearer", token=TOKEN).json()["id"]
    caplog.set_level(logging.WARNING)
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[current]):
        run = api.post("/api/v1/workflow/execute",
                       {"nodes": [_http("a", "/json", "orphan")], "edges": []}, format="json")
        # the node fails as if there were no such credential; nothing is sent
        assert run.status_code == 422, run.content
        assert "unknown credential 'orphan'" in run.json()["error"]
        assert not [r for r in http_server.requests if r.path == "/json"]
        warning = [r.getMessage() for r in caplog.records if "cannot be decrypted" in
                   r.getMessage()]
        assert warning == [f"credential 'orphan' of user {run.wsgi_request.user.pk} cannot "
                           "be decrypted with the configured THAIYYAL_CREDENTIAL_KEYS"]
        # rotation names it (id and name) and leaves it as it was
        before = Credential.objects.get(pk=pk).encrypted
        out = io.StringIO()
        with pytest.raises(CommandError) as refused:
            call_command("rotate_credentials", stdout=out)
        assert str(refused.value) == f"no configured key decrypts: {pk} (orphan)"
        assert "re-encrypted 0 credential(s)" in out.getvalue()
        assert Credential.objects.get(pk=pk).encrypted == before
    text = run.content.decode() + out.getvalue() + str(refused.value) + "".join(
        r.getMessage() for r in caplog.records)
    assert TOKEN not in text
    # with the lost key back, it works again
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[current, lost]):
        call_command("rotate_credentials", stdout=io.StringIO())
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[current]):
        assert engine_config(Credential.objects.get(pk=pk))["auth"]["token"] == TOKEN


def test_credential_key_prints_a_new_key_that_encrypts_and_decrypts(api, http_server):
    out = io.StringIO()
    call_command("credential_key", stdout=out)
    key = out.getvalue().strip()
    assert len(key) == 44  # 32 url-safe base64 bytes
    Fernet(key.encode())  # raises unless it is a Fernet key
    again = io.StringIO()
    call_command("credential_key", stdout=again)
    assert again.getvalue().strip() != key
    with override_settings(THAIYYAL_CREDENTIAL_KEYS=[key]):
        pk = _create(api, http_server, name="k", kind="bearer", token=TOKEN).json()["id"]
        assert engine_config(Credential.objects.get(pk=pk))["auth"]["token"] == TOKEN
