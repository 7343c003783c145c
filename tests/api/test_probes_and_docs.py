"""Health probes, the OpenAPI schema and its docs page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_auth_or_allowed_host(client):
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8080")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz", HTTP_HOST="10.1.2.3")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable():
    # A process of its own, pointed at a port where no database listens.
    code = ("import django, json; django.setup();"
            "from django.test import Client;"
            "r = Client().get('/readyz');"
            "print(json.dumps({'status': r.status_code, 'body': r.json()}))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, check=True)

    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["status"] == "unavailable"
    assert answer["body"]["database"]


def test_schema_describes_the_api(anon):
    response = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = schema["paths"]
    for path in ("/api/v1/workflow/execute/", "/api/v1/workflow/validate/",
                 "/api/v1/workflows/", "/api/v1/workflows/{id}/execute/",
                 "/api/v1/workflows/{id}/versions/", "/api/v1/runs/", "/api/v1/runs/{id}/",
                 "/api/v1/workflow/save/", "/api/v1/workflow/execute/{id}/"):
        assert path in paths, path
    responses = paths["/api/v1/workflow/execute/"]["post"]["responses"]
    assert {"200", "400", "401", "403", "413", "415", "422", "429"} <= set(responses)


def test_docs_page_is_served_with_local_assets(anon):
    response = anon.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn" not in response.content.lower()
    assert b"/static/drf_spectacular_sidecar/" in response.content
    asset = re.search(rb'"(/static/drf_spectacular_sidecar/[^"]+\.js)"', response.content)
    assert asset is not None
    assert anon.get(asset.group(1).decode()).status_code == 200  # served by WhiteNoise
