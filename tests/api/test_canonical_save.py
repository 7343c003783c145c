"""A workflow saved with the editor's names is stored (and read back) in canonical form."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

EDITOR = {
    "nodes": [
        {"id": "r", "type": "rangeNode", "data": {"start": 1, "end": 3}},
        {"id": "m", "type": "mapNode", "data": {"expression": "item + 1"}},
        {"id": "t", "type": "textInputNode", "data": {"text": "x"}},
        {"id": "u", "type": "textOpNode", "data": {"textOp": "uppercase"}},
    ],
    "edges": [{"source": "r", "target": "m"}, {"source": "t", "target": "u"}],
}


def test_saved_definition_reads_back_canonical_and_runs(api):
    created = api.post("/api/v1/workflows/", {"name": "Editor", "definition": EDITOR},
                       format="json")
    assert created.status_code == 201, created.json()
    nodes = created.json()["definition"]["nodes"]
    assert [n["type"] for n in nodes] == ["range", "map", "text_input", "text_operation"]
    assert nodes[3]["data"] == {"text_op": "uppercase"}

    run = api.post(f"/api/v1/workflows/{created.json()['id']}/execute", {}, format="json")
    assert run.status_code == 200, run.json()
    assert run.json()["results"]["node_results"]["m"]["results"] == [2, 3, 4]
