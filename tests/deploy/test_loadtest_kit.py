"""The load-test kit's workflow is what the docs say: six nodes, none touching the
network, and it runs to a successful result on the engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import engine
from engine.nodes.base import NODE_TYPES
from tests import loadtest_kit

KIT = Path(__file__).resolve().parents[2] / "deploy" / "loadtest"
NETWORK_TYPES = {"http", "paginator"}


def test_loadtest_workflow_has_six_registered_offline_nodes():
    payload = json.loads((KIT / "workflow.json").read_text())
    types = [node["type"] for node in payload["nodes"]]
    assert len(types) == 6
    assert set(types) <= set(NODE_TYPES)
    assert not set(types) & NETWORK_TYPES


def test_loadtest_workflow_runs_successfully_on_the_engine():
    result = engine.execute((KIT / "workflow.json").read_text())
    assert result.status == "succeeded"
    assert result.final_output["value"] == (40 + 2) * 3 + 1
    assert len(result.nodes) == 6


def test_k6_script_reads_url_and_token_from_env_and_sets_the_thresholds():
    # k6 is not installed here; its options are plain data in the script.
    k6 = (KIT / "load-test.js").read_text()
    assert "__ENV.THAIYYAL_TOKEN" in k6
    assert "__ENV.BASE_URL" in k6
    assert "p(95)<500" in k6
    assert "rate<0.01" in k6
    assert [int(t) for t in re.findall(r"target: (\d+)", k6)] == [20, 50, 0]


def test_bench_api_workflow_computes_what_the_references_compute():
    """bench_api.py compares this 7-node workflow with Node-RED and a bare Django view
    doing the same filter (value > 10), double and sum over the same items."""
    bench_api = loadtest_kit.bench_api()
    workflow = bench_api.filter_map_sum_workflow()
    result = engine.execute(json.dumps(workflow))
    assert result.status == "succeeded"
    kept = [i["value"] for i in bench_api.ITEMS if i["value"] > 10]
    assert result.final_output["result"] == sum(v * 2 for v in kept)
    assert len(workflow["nodes"]) == 7
    assert not {n["type"] for n in workflow["nodes"]} & NETWORK_TYPES
