"""Thaiyyal's own workflows, run unchanged: payloads from its Go tests (with what those
tests assert), its examples/, its docs' JSON blocks and its editor's example library, at
the commit pinned in cases.json (regenerate with tests/compat/extract.py).

A case whose outcome differs on purpose names the difference (`difference`), which
docs/compatibility.md lists; the case then pins our outcome (`ours`) instead, so a change
either way is noticed. docs/compatibility.md also states the suite's counts, apart for
the cases whose outcome Thaiyyal's Go tests state and the cases whose expected outcome is
ours (examples, docs, editor library); test_documented_counts_are_the_suites checks them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine import Limits, PayloadError, Workflow
from engine.errors import ExecutionError, ExpressionError, ExpressionSyntaxError
from engine.expressions import compile_expression
from engine.expressions.scope import Scope
from engine.nodes.values import json_equal, truthy
from engine.state import NodeContext, Run

HERE = Path(__file__).resolve().parent
SUITE = json.loads((HERE / "cases.json").read_text(encoding="utf-8"))
COMPATIBILITY = (HERE.parents[1] / "docs" / "compatibility.md").read_text(encoding="utf-8")
CASES = SUITE["cases"]


def expectation(case: dict[str, Any]) -> dict[str, Any]:
    expect = case["expect"]
    return expect["ours"] if "difference" in expect else expect


def skip_reason(case: dict[str, Any]) -> str | None:
    if case["payload"] is None:
        return "the payload is not a JSON literal in the Go test"
    return case["expect"].get("skip")


def check_expression(case: dict[str, Any]) -> None:
    """A row of Thaiyyal's expression tests: the expression on its input, with the test's
    node results, variables and context values; `condition` mode asks for true/false."""
    payload, expect = case["payload"], expectation(case)
    context = payload["context"]
    scope = Scope(variables=context.get("Variables") or {},
                  context=context.get("ContextVars") or {},
                  nodes=context.get("NodeResults") or {})
    try:
        value = compile_expression(payload["expression"]).evaluate(scope,
                                                                   input=payload["input"])
    except (ExpressionSyntaxError, ExpressionError) as exc:
        error: Exception | None = exc
    else:
        error = None
    if expect.get("outcome") == "failed":
        assert error is not None, f"evaluated to {value!r}"
        return
    assert error is None, str(error)
    if payload["mode"] == "condition":
        value = truthy(value)
    want = expect["value"]
    if isinstance(want, float) and not isinstance(value, bool) \
            and isinstance(value, int | float):
        assert value == pytest.approx(want, abs=1e-3)
    else:
        assert json_equal(value, want), (value, want)


def check_node(case: dict[str, Any]) -> None:
    """A row of Thaiyyal's executor tests: one node, built from the row, run on its inputs
    inside a real run, then the row's checks on the result."""
    payload, expect = case["payload"], expectation(case)
    try:
        node = Workflow.load({"nodes": [{"id": "n", "type": payload["type"],
                                         "data": payload["data"]}]}).nodes[0]
        run = Run("compat", Limits(), dict(payload.get("context", {})), None, None)
        run.state.variables.update(payload.get("variables", {}))
        result = node.run(list(payload["inputs"]), NodeContext(run, node.id))
    except (PayloadError, ExecutionError, ExpressionError) as exc:
        error: Exception | None = exc
    else:
        error = None
    if expect.get("outcome") == "failed":
        assert error is not None, f"ran: {result!r}"
        assert expect.get("error_contains", "") in str(error)
        return
    assert error is None, str(error)
    for how, key, want in expect["checks"]:
        if how == "whole":
            assert json_equal(result, want), (result, want)
            continue
        if how == "approx":
            assert result[key] == pytest.approx(want, abs=0.1), (key, result[key], want)
            continue
        if how == "whole_key":
            assert json_equal(result[key], want), (key, result[key], want)
            continue
        got = result.get(key)
        if how == "found":
            got = got is not None and not result.get("not_found")
        elif how == "len":
            got = len(got)
        elif how == "first":
            got = got[0]
        elif how == "last":
            got = got[-1]
        elif how == "first_len":
            got = len(got[0]) if got else 0
        assert json_equal(got, want), (how, key, got, want)


def check(case: dict[str, Any], server: str = "", services: dict[str, Any] | None = None,
          ) -> None:
    """Assert that our engine gives the case's expected outcome. `{server}` in a payload
    is the loopback test server standing in for the Go test's httptest server."""
    expect = expectation(case)
    outcome = expect.get("outcome", "succeeded")
    payload = json.loads(json.dumps(case["payload"]).replace("{server}", server))
    try:
        workflow = Workflow.load(payload)
    except PayloadError as exc:
        refusal: PayloadError | None = exc
    else:
        refusal = None
    if refusal is not None:
        assert outcome in ("not_succeeded", "refused"), f"refused: {refusal}"
        return
    assert outcome != "refused", "loaded, but Thaiyyal refuses it at load"
    for node_id, node_type in expect.get("node_types", {}).items():
        assert {n.id: n.type_name for n in workflow.nodes}[node_id] == node_type
    if expect.get("load_only"):
        return
    result = workflow.execute(limits=Limits(**expect.get("limits", {})), services=services)
    if outcome == "not_succeeded":
        assert result.status == "failed", f"ran: {result.final_output!r}"
        return
    assert result.status == outcome, result.errors
    for node_id, value in expect.get("node_results", {}).items():
        assert node_id in result.node_results, f"node {node_id} has no result"
        assert json_equal(result.node_results[node_id], value), (
            node_id, result.node_results[node_id], value)
    for node_id in expect.get("executed", ()):
        assert node_id in result.node_results, f"{node_id} did not run"
    for node_id in expect.get("not_executed", ()):
        assert node_id not in result.node_results, f"{node_id} ran"
    for node_id, fields in expect.get("result_fields", {}).items():
        for key, value in fields.items():
            assert json_equal(result.node_results[node_id][key], value), (node_id, key)
    if "skipped" in expect:
        assert sorted(n.id for n in result.nodes if n.status == "skipped") == sorted(
            expect["skipped"])
    if "final_output" in expect:
        assert json_equal(result.final_output, expect["final_output"])
    if "node_result_count" in expect:
        assert len(result.node_results) == expect["node_result_count"]
    if "workflow_id" in expect:
        assert result.workflow_id == expect["workflow_id"]
    if "error_contains" in expect:
        assert expect["error_contains"] in result.errors[0]
    if "error_equals" in expect:
        assert result.errors[0] == expect["error_equals"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_thaiyyal_case(case, http_server, loopback_policy):
    reason = skip_reason(case)
    if reason:
        pytest.skip(reason)
    difference = case["expect"].get("difference")
    if difference:
        assert f"`{difference}`" in COMPATIBILITY, f"difference {difference} is not documented"
    if case.get("kind") == "expression":
        check_expression(case)
    elif case.get("kind") == "node":
        check_node(case)
    else:
        check(case, http_server.origin, {"egress_policy": loopback_policy})


def stated_by_thaiyyal(case: dict[str, Any]) -> bool:
    """True when Thaiyyal's own tests assert the case's outcome (its Go tests); the expected
    outcome of a case from its examples, docs or editor library is ours (it loads, and runs
    unless it calls external hosts, or what our reading of Thaiyyal's code says)."""
    return bool(case["source"]["file"].endswith("_test.go"))


def counts(stated: bool) -> dict[str, int]:
    group = [c for c in CASES if stated_by_thaiyyal(c) is stated]
    run = [c for c in group if not skip_reason(c)]
    differences = sum(1 for c in run if "difference" in c["expect"])
    load_only = sum(1 for c in run
                    if "difference" not in c["expect"] and expectation(c).get("load_only"))
    return {"cases": len(group), "matched": len(run) - differences, "load_only": load_only,
            "differences": differences, "skipped": len(group) - len(run)}


_GROUP = (r"(\d+) matched \((\d+) of them loaded only\b[^)]*\), (\d+) listed differences?"
          r"(?: \([^)]*\))?, (\d+) skipped")


def test_documented_counts_are_the_suites():
    stated = re.search(rf"(\d+) cases\. Thaiyyal's Go tests state the outcome of (\d+): "
                       rf"{_GROUP}[^.]*\. For the other (\d+)[^:]*: {_GROUP}",
                       " ".join(COMPATIBILITY.split()))
    assert stated, "docs/compatibility.md states the suite's counts"
    theirs, ours = counts(stated=True), counts(stated=False)
    keys = ("cases", "matched", "load_only", "differences", "skipped")
    assert tuple(map(int, stated.groups())) == (
        len(CASES), *(theirs[k] for k in keys), *(ours[k] for k in keys))


def test_every_left_out_go_test_is_named_in_the_docs():
    """The Go tests that give no case are listed, with the reason, in cases.json (the
    extractor fails on any it cannot explain) and in docs/compatibility.md."""
    for name in [*SUITE["skipped_files"], *SUITE["left_out"]]:
        assert f"`{name.split('/')[-1]}`" in COMPATIBILITY, name
