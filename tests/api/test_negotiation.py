"""Content negotiation: the short cut for the common Accept headers answers exactly as
DRF's negotiation does, and everything else still goes through it (406 included)."""

from __future__ import annotations

import json

import pytest
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from workflows.api.negotiation import FirstRendererNegotiation
from workflows.api.renderers import RunSafeJSONRenderer

pytestmark = pytest.mark.django_db

RUN = {"nodes": [{"id": "n", "type": "number", "data": {"value": 2}}], "edges": []}


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_common_accept_headers_get_json(api, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = api.post("/api/v1/workflow/execute", RUN, format="json", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["success"] is True


def test_an_accept_the_api_cannot_answer_is_still_406(api):
    response = api.post("/api/v1/workflow/execute", RUN, format="json",
                        HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert "text/html" not in response["Content-Type"]


def test_parameters_take_drfs_own_path(api):
    """`indent` is a media type parameter only DRF's negotiation passes to the renderer."""
    response = api.get("/api/v1/workflows/", HTTP_ACCEPT="application/json; indent=4")
    assert response.status_code == 200
    assert b'\n    "' in response.content


def test_the_schema_view_answers_json_when_json_is_asked(anon):
    """Its first renderer is YAML: the short cut must not hand YAML to a client asking for
    application/json, nor JSON to one asking for nothing."""
    as_json = anon.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert as_json.status_code == 200
    assert json.loads(as_json.content)["openapi"].startswith("3.")
    default = anon.get("/api/schema/")
    assert default.status_code == 200
    assert default.content.startswith(b"openapi:")


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*",
                                    "application/json, text/plain", "*/*;q=0.8"])
@pytest.mark.parametrize("query", ["", "format=json"])
def test_the_short_cut_chooses_what_drf_chooses(accept, query):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/runs/?{query}", **headers))
    renderers = [RunSafeJSONRenderer()]
    ours = FirstRendererNegotiation().select_renderer(request, renderers)
    drfs = DefaultContentNegotiation().select_renderer(request, renderers)
    assert (type(ours[0]), ours[1]) == (type(drfs[0]), drfs[1])
