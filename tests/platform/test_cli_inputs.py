"""`thaiyyal run --input name=value / --inputs JSON` set context variables as the API's
`inputs` do; `thaiyyal validate FILE` prints every problem with its path."""

from __future__ import annotations

import json

from tests.platform.test_cli import thaiyyal

DEMO = "examples/demo.json"


def final_output(*args: str) -> object:
    done = thaiyyal("run", DEMO, "--compact", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["final_output"]


def test_input_flags_set_context_variables_converted_to_their_type():
    # quantity is a number variable: "1" becomes 1; 1 x 12.5 stays under the discount
    assert final_output("--input", "quantity=1", "--input", "customer=Bo") == \
        "Total for Bo: 12.5"


def test_inputs_json_sets_them_and_input_flags_win():
    assert final_output("--inputs", '{"quantity": 1, "customer": "Cy"}',
                        "--input", "customer=Di") == "Total for Di: 12.5"


def test_unknown_or_badly_typed_inputs_exit_2_naming_each():
    done = thaiyyal("run", DEMO, "--input", "colour=red", "--input", "quantity=lots")
    assert done.returncode == 2
    paths = {d["path"] for d in json.loads(done.stderr)["details"]}
    assert paths == {"$.inputs.colour", "$.inputs.quantity"}


def test_malformed_input_flags_exit_2():
    done = thaiyyal("run", DEMO, "--input", "novalue", "--inputs", "[1]")
    assert done.returncode == 2
    messages = [d["message"] for d in json.loads(done.stderr)["details"]]
    assert messages == ["--inputs must be a JSON object",
                        "--input 'novalue': expected NAME=VALUE"]


def test_validate_accepts_a_good_file():
    done = thaiyyal("validate", DEMO)
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "valid: 8 nodes, 7 edges"


def test_validate_prints_every_problem_with_its_path(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nodes": [
        {"id": "a", "type": "warp_drive"},
        {"id": "b", "type": "number", "data": {"value": "lots"}},
    ], "edges": [{"source": "b", "target": "ghost"}]}))
    done = thaiyyal("validate", str(bad))
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "$.nodes[0].type: unknown node type 'warp_drive'",
        "$.nodes[1].data.value: must be a number, got string",
        "$.edges[0].target: unknown node 'ghost'",
    ]
