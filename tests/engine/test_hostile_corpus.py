"""The hostile corpus: inputs chosen to make one step of the engine run long.

Every case runs under a short `max_execution_time` and must end (succeeded quickly, or
failed) within that limit plus SLACK of wall-clock time, never raise out of the engine,
and give a result that encodes as strict JSON. The same cases go through `thaiyyal run`,
which must exit 0 or 1 with JSON and never print a traceback. The worst overshoot is
printed (`pytest -s`).

The garbage collector is not the engine: a full collection walks every live object of
the process and pauses any code, engine or not (about 60 ms per million objects here). So
each run starts with the test process's own heap frozen out of it (`gc.freeze()`), and
the time of the collections that still happen during the run (of what the run itself
allocated: parsing a MiB of YAML makes a million objects) is measured and set apart: the
bound applies to the rest, and both figures are printed.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine import Limits, PayloadError, Workflow
from engine.cli import main as cli_main
from tests.engine.payloads import edge, node

LIMIT = 0.2
SLACK = 0.1
#: seconds Workflow.load may take on any case (a megabyte of JSON decodes in ~20 ms)
LOAD_BOUND = 0.5
LIMITS = Limits(max_execution_time=LIMIT)
MiB = 1024 * 1024

#: (case id, payload) built lazily: some are a megabyte of JSON
CASES: dict[str, Callable[[], dict[str, Any]]] = {}
#: case -> (seconds past the limit, of which in garbage collection)
OVERSHOOTS: dict[str, tuple[float, float]] = {}


def case(name: str) -> Callable[[Callable[[], dict[str, Any]]], Callable[[], dict[str, Any]]]:
    def register(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        CASES[name] = build
        return build
    return register


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": list(nodes),
            "edges": [edge(a["id"], b["id"]) for a, b in zip(nodes, nodes[1:], strict=False)]}


def text(value: str) -> dict[str, Any]:
    return node("t", "text_input", text=value)


def parsed(value: Any) -> list[dict[str, Any]]:
    """Nodes producing `value` from JSON text (arrays bigger than a literal is worth)."""
    return [text(json.dumps(value)), node("p", "parse", input_type="json")]


def big_ints() -> list[int]:
    return list(range(100_000))


def big_objects() -> list[dict[str, Any]]:
    return [{"k": i % 977, "s": f"item-{i}"} for i in range(20_000)]


# -- catastrophic regular expressions ---------------------------------------------------------

@case("schema-pattern-nested-quantifier")
def _() -> dict[str, Any]:
    return chain(text("a" * 27 + "!"),
                 node("s", "schema_validator", schema={"type": "string", "pattern": "^(a+)+$"}))


@case("schema-pattern-alternation-on-1mib")
def _() -> dict[str, Any]:
    return chain(text("a" * (MiB - 2000) + "!"),
                 node("s", "schema_validator", schema={"pattern": "^(a|aa)*(b|c)*$"}))


@case("schema-pattern-properties")
def _() -> dict[str, Any]:
    keys = {"x" * 30 + str(i) + "!": i for i in range(2_000)}
    return chain(*parsed(keys), node("s", "schema_validator", schema={
        "patternProperties": {"^(x+x+)+y$": {"type": "string"}},
        "additionalProperties": {"type": "integer"}}))


@case("schema-unevaluated-properties")
def _() -> dict[str, Any]:
    keys = {"a" * 25 + str(i) + "!": i for i in range(1_000)}
    return chain(*parsed(keys), node("s", "schema_validator", schema={
        "patternProperties": {"^(a|a)*$": True}, "unevaluatedProperties": False}))


@case("schema-format-regex-on-a-1mib-string")
def _() -> dict[str, Any]:
    # RE2 took about 450 ms to compile (and refuse) this, with no deadline check meanwhile.
    return chain(text("a." * ((MiB - 4000) // 2)),
                 node("s", "schema_validator", schema={"format": "regex"}))


@case("schema-format-regex-on-200-costly-strings")
def _() -> dict[str, Any]:
    # Each string compiles slowly (RE2 expands every `x{1000}` first) and all are distinct,
    # so no cache helps: about 15 s in all before the deadline was checked between them.
    patterns = [f"{i}" + ("x{1000}" * 600)[:4000] for i in range(200)]
    return chain(*parsed(patterns), node("s", "schema_validator", schema={
        "type": "array", "items": {"format": "regex"}}))


@case("schema-unique-items-of-20000-objects")
def _() -> dict[str, Any]:
    return chain(*parsed(big_objects()), node("s", "schema_validator", schema={
        "type": "array", "uniqueItems": True, "items": {"type": "object"}}))


@case("schema-items-over-100000")
def _() -> dict[str, Any]:
    return chain(*parsed(big_ints()), node("s", "schema_validator", schema={
        "type": "array",
        "items": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0,
                                                 "multipleOf": 1}]}}))


# -- huge numbers ------------------------------------------------------------------------------

@case("reduce-quadrupling-accumulator")
def _() -> dict[str, Any]:
    return chain(node("r", "range", start=1, end=10_000),
                 node("s", "reduce", expression="accumulator + accumulator + accumulator + "
                                               "accumulator", initial_value=1))


@case("operation-multiply-huge-floats")
def _() -> dict[str, Any]:
    return {"nodes": [node("a", "number", value=1.7e308), node("b", "number", value=1.7e308),
                      node("o", "operation", op="multiply")],
            "edges": [edge("a", "o"), edge("b", "o")]}


@case("power-of-big-numbers")
def _() -> dict[str, Any]:
    return {"nodes": [node("a", "number", value=2**53), node("b", "number", value=2**53),
                      node("o", "operation", op="power")],
            "edges": [edge("a", "o"), edge("b", "o")]}


@case("parse-json-with-huge-integers")
def _() -> dict[str, Any]:
    return chain(text("[" + ",".join(["9" * 4000] * 200) + "]"), node("p", "parse"))


@case("counter-increment-by-2^53-in-a-loop")
def _() -> dict[str, Any]:
    body = {"nodes": [node("c", "counter", counter_op="increment", delta=2**53)], "edges": []}
    return chain(node("r", "range", start=1, end=1000), node("f", "for_each", body=body))


# -- deep nesting ------------------------------------------------------------------------------

@case("while-loop-building-990-levels")
def _() -> dict[str, Any]:
    body = {"nodes": [node("e", "expression", expression="[input[0] + 1, [input[1]]]")],
            "edges": []}
    return chain(node("s", "expression", expression="[0, []]"),
                 node("w", "while_loop", condition="input[0] < 990", max_iterations=1000,
                      body=body))


@case("reduce-wrapping-the-accumulator")
def _() -> dict[str, Any]:
    return chain(node("r", "range", start=1, end=10_000),
                 node("s", "reduce", expression="[accumulator]", initial_value=0))


@case("expression-chain-of-array-literals")
def _() -> dict[str, Any]:
    nodes = [node("n0", "number", value=1)]
    nodes += [node(f"n{i}", "expression", expression="[input, [input]]") for i in range(1, 80)]
    return chain(*nodes)


@case("parse-deeply-nested-json")
def _() -> dict[str, Any]:
    return chain(text("[" * 200_000 + "]" * 200_000), node("p", "parse"))


@case("parse-a-mebibyte-of-yaml")
def _() -> dict[str, Any]:
    line = "- {name: item, value: 12345, tags: [a, b, c]}\n"  # the newline is 2 bytes in JSON
    return chain(text(line * (MiB // (len(line) + 1) - 100)),
                 node("p", "parse", input_type="yaml"))


@case("parse-a-mebibyte-of-csv")
def _() -> dict[str, Any]:
    rows = "a,b,c,d\n" + "1,two,3.5,true\n" * (MiB // 16 - 100)
    return chain(text(rows), node("p", "parse", input_type="csv"))


@case("parse-a-mebibyte-of-xml")
def _() -> dict[str, Any]:
    body = "<r>" + "<i a='1'>x</i>" * (MiB // 16 - 100) + "</r>"
    return chain(text(body), node("p", "parse", input_type="xml"))


# -- big strings -------------------------------------------------------------------------------

@case("text-repeat-to-the-string-limit")
def _() -> dict[str, Any]:
    return chain(text("x" * 1000), node("r", "text_operation", text_op="repeat",
                                        repeat_n=1048))


@case("reduce-concatenating-strings-quadratically")
def _() -> dict[str, Any]:
    return chain(node("r", "range", start=1, end=10_000),
                 node("s", "reduce", expression="accumulator + 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'",
                      initial_value=""))


@case("replace-and-split-a-mebibyte")
def _() -> dict[str, Any]:
    return chain(text("ab" * (MiB // 2 - 1000)),
                 node("e", "expression",
                      expression="input.replace('a', 'aa').split('b').length"))


# -- wide fan-out --------------------------------------------------------------------------------

@case("thousand-nodes-each-sorting-10000")
def _() -> dict[str, Any]:
    nodes = [node("r", "range", start=1, end=10_000)]
    nodes += [node(f"s{i}", "sort", order="desc") for i in range(999)]
    return {"nodes": nodes, "edges": [edge("r", f"s{i}") for i in range(999)]}


@case("thousand-nodes-each-uniquing-10000")
def _() -> dict[str, Any]:
    nodes = [node("r", "range", start=1, end=10_000)]
    nodes += [node(f"u{i}", "expression", expression="unique(input.range).length")
              for i in range(999)]
    return {"nodes": nodes, "edges": [edge("r", f"u{i}") for i in range(999)]}


# -- big arrays through expensive per-item expressions --------------------------------------------

@case("map-comparing-every-item-with-all")
def _() -> dict[str, Any]:
    return chain(node("r", "range", start=1, end=10_000),
                 node("m", "map", expression="items.includes(item + 0.5)"))


@case("filter-equal-whole-arrays-per-item")
def _() -> dict[str, Any]:
    return chain(node("r", "range", start=1, end=10_000),
                 node("f", "filter", condition="items == items"))


@case("filter-sorting-per-item")
def _() -> dict[str, Any]:
    return chain(node("r", "range", start=1, end=10_000),
                 node("f", "filter", condition="sort(items, 'desc')[0] > item"))


@case("map-joining-per-item")
def _() -> dict[str, Any]:
    return chain(node("r", "range", start=1, end=10_000),
                 node("m", "map", expression="join(items, '-').length"))


@case("duration-padded-with-a-mebibyte-of-spaces")
def _() -> dict[str, Any]:
    return chain(node("n", "number", value=1, timeout="1" + " " * (MiB - 1000) + "x"))


@case("numeric-looking-string-compared-with-every-item")
def _() -> dict[str, Any]:
    return {"nodes": [text("1" * 399 + "x"), node("r", "range", start=1, end=10_000),
                      node("f", "filter", condition="node.t > item")],
            "edges": [edge("t", "f"), edge("r", "f")]}


@case("sort-20000-objects-by-field")
def _() -> dict[str, Any]:
    return chain(*parsed(big_objects()), node("s", "sort", field="s"))


@case("group-by-20000")
def _() -> dict[str, Any]:
    return chain(*parsed(big_objects()), node("g", "group_by", field="k"))


@case("unique-node-of-20000-objects")
def _() -> dict[str, Any]:
    return chain(*parsed(big_objects()), node("u", "unique"))


@case("longest-expression-over-10000-items")
def _() -> dict[str, Any]:
    # expressions are at most 10,000 characters and 100 levels deep: one flat call
    expression = "sum(" + ", ".join(["item"] * 1_600) + ")"
    return chain(node("r", "range", start=1, end=10_000),
                 node("m", "map", expression=expression))


@case("for-each-body-filtering-10000-per-item")
def _() -> dict[str, Any]:
    body = {"nodes": [node("b", "expression", expression="filter(items, item > 3).length")],
            "edges": []}
    return chain(node("r", "range", start=1, end=1000), node("f", "for_each", body=body))


# -- the harness --------------------------------------------------------------------------------

class CollectorPauses:
    """Seconds spent in garbage collections while active."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


@pytest.fixture
def collector_pauses():
    gc.collect()
    gc.freeze()
    pauses = CollectorPauses()
    gc.callbacks.append(pauses)
    yield pauses
    gc.callbacks.remove(pauses)
    gc.unfreeze()


def _payload_text(name: str) -> str:
    return json.dumps(CASES[name]())


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_case_ends_within_the_limit(name, collector_pauses):
    raw = _payload_text(name)
    started = time.perf_counter()
    try:
        workflow = Workflow.load(raw, LIMITS)
    except PayloadError:
        workflow = None  # refused at load: a 400, nothing runs
    # Loading has no deadline of its own: it must be cheap on any payload the limits admit.
    assert time.perf_counter() - started < LOAD_BOUND, name
    if workflow is None:
        return
    collector_pauses.total = 0.0
    started = time.perf_counter()
    result = workflow.execute(limits=LIMITS)
    elapsed = time.perf_counter() - started
    collecting = collector_pauses.total
    OVERSHOOTS[name] = (elapsed - LIMIT, collecting)
    json.dumps(result.to_dict(), allow_nan=False)  # every result encodes as strict JSON
    assert elapsed - collecting <= LIMIT + SLACK, (name, result.status, result.error, elapsed,
                                                   collecting)
    assert result.status in ("succeeded", "failed"), result.status


def test_print_the_worst_overshoot():
    if not OVERSHOOTS:
        pytest.skip("run with the corpus cases")
    worst = max(OVERSHOOTS, key=lambda name: OVERSHOOTS[name][0])
    past, collecting = OVERSHOOTS[worst]
    engine = max(OVERSHOOTS, key=lambda name: OVERSHOOTS[name][0] - OVERSHOOTS[name][1])
    print(f"\n[hostile corpus] {len(OVERSHOOTS)} cases; worst: {worst} ended "
          f"{past * 1000:+.1f} ms past the {LIMIT * 1000:.0f} ms limit "
          f"({collecting * 1000:.1f} ms of it in garbage collection); worst without "
          f"collections: {engine} {(OVERSHOOTS[engine][0] - OVERSHOOTS[engine][1]) * 1000:+.1f} ms")


@pytest.mark.parametrize("name", list(CASES))
def test_cli_answers_hostile_case_with_json_not_a_traceback(name, tmp_path):
    path = tmp_path / "workflow.json"
    path.write_text(_payload_text(name))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main([str(path), "--max-execution-time", f"{LIMIT}s", "--compact"])
    assert "Traceback" not in err.getvalue()
    assert code in (0, 1, 2), code
    document = json.loads(out.getvalue() if code in (0, 1) else err.getvalue())
    if code == 1:
        assert document["status"] == "failed"
        assert document["error"]["code"]


@pytest.mark.parametrize("name", ["while-loop-building-990-levels", "parse-json-with-huge-integers",
                                  "schema-pattern-nested-quantifier",
                                  "expression-chain-of-array-literals"])
def test_thaiyyal_run_console_script_answers_json_not_a_traceback(name, tmp_path):
    path = tmp_path / "workflow.json"
    path.write_text(_payload_text(name))
    script = Path(sys.executable).with_name("thaiyyal")
    done = subprocess.run([str(script), "run", str(path), "--max-execution-time", "200ms",
                           "--compact"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["status"] in ("succeeded", "failed")
