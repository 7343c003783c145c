"""`thaiyyal run FILE|-`: execute a workflow file with the engine alone and print the result.

Exit status: 0 succeeded, 1 failed, 2 invalid payload or inputs (problems on stderr as JSON).
`--input name=value` (repeatable) and `--inputs JSON` set context variables as the API's
`inputs` do. `thaiyyal validate FILE|-` prints every problem with its path (exit 0 or 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

from engine.errors import PayloadError
from engine.limits import Limits, parse_duration
from engine.payload import Workflow

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The limit flags shared by `run` and `serve`."""
    parser.add_argument("--max-execution-time", type=parse_duration, metavar="DURATION",
                        help="e.g. 30s, 500ms, 10m (default 30s)")
    parser.add_argument("--max-node-executions", type=_positive_int, metavar="N")
    parser.add_argument("--max-http-calls", type=_positive_int, metavar="N")
    parser.add_argument("--max-loop-iterations", type=_positive_int, metavar="N")


def limits_from_args(args: argparse.Namespace, base: Limits | None = None) -> Limits:
    """Limits with the flags that were given applied over `base` (or the defaults)."""
    changes = {name: getattr(args, name) for name in (
        "max_execution_time", "max_node_executions", "max_http_calls", "max_loop_iterations")
        if getattr(args, name, None) is not None}
    return dataclasses.replace(base or Limits(), **changes)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="thaiyyal run",
                                               description=__doc__.splitlines()[0])
    parser.add_argument("file", help="workflow JSON file, or - for standard input")
    parser.add_argument("--compact", action="store_true", help="print JSON on one line")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                        dest="input_pairs",
                        help="set context variable NAME (repeatable); the text is converted "
                             "to the variable's declared type")
    parser.add_argument("--inputs", metavar="JSON", dest="inputs_json",
                        help='context variables as a JSON object, e.g. \'{"age": 30}\'; '
                             "--input wins for a name given both ways")
    add_limit_arguments(parser)
    return parser


def build_validate_parser(parser: argparse.ArgumentParser | None = None,
                          ) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="thaiyyal validate", description="Check a workflow file without running it.")
    parser.add_argument("file", help="workflow JSON file, or - for standard input")
    return parser


def inputs_from_args(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(inputs, problems) from `--inputs JSON` and the repeated `--input NAME=VALUE`."""
    inputs: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    if args.inputs_json is not None:
        try:
            decoded = json.loads(args.inputs_json)
        except json.JSONDecodeError as exc:
            problems.append({"path": "$.inputs", "message": f"--inputs is not JSON: {exc.msg} "
                                                           f"at column {exc.colno}"})
        else:
            if isinstance(decoded, dict):
                inputs.update(decoded)
            else:
                problems.append({"path": "$.inputs", "message": "--inputs must be a JSON object"})
    for pair in args.input_pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            problems.append({"path": "$.inputs",
                             "message": f"--input {pair!r}: expected NAME=VALUE"})
            continue
        inputs[name] = value
    return inputs, problems


def run(args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else _read(args.file)
    except OSError as exc:
        _print_error([{"path": "$", "message": f"cannot read {args.file}: {exc.strerror}"}])
        return EXIT_INVALID
    limits = limits_from_args(args)
    inputs, problems = inputs_from_args(args)
    try:
        workflow = Workflow.load(raw, limits)
    except PayloadError as exc:
        _print_error(exc.to_list() + problems)
        return EXIT_INVALID
    if problems:
        _print_error(problems)
        return EXIT_INVALID
    try:
        result = workflow.execute(limits=limits, inputs=inputs or None)
    except PayloadError as exc:  # an input that names no context variable or will not convert
        _print_error(exc.to_list())
        return EXIT_INVALID
    indent = None if args.compact else 2
    try:
        text = json.dumps(result.to_dict(), indent=indent, default=_fallback, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        # The engine bounds every result (engine/bounds.py); if one still cannot be
        # written, say so as JSON rather than with a traceback.
        text = json.dumps({"execution_id": result.execution_id, "status": "failed",
                           "error": {"code": "unencodable_result", "node_id": None,
                                     "message": f"the result cannot be written as JSON: "
                                                f"{type(exc).__name__}: {exc}"[:500]}},
                          indent=indent)
        print(text)
        return EXIT_FAILED
    print(text)
    return EXIT_SUCCEEDED if result.succeeded else EXIT_FAILED


def validate(args: argparse.Namespace) -> int:
    """Print `valid: ...` (exit 0) or every problem as `path: message` lines (exit 2)."""
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else _read(args.file)
    except OSError as exc:
        print(f"$: cannot read {args.file}: {exc.strerror}")
        return EXIT_INVALID
    try:
        workflow = Workflow.load(raw)
    except PayloadError as exc:
        for problem in exc.problems:
            print(f"{problem.path}: {problem.message}")
        return EXIT_INVALID
    edges = sum(len(out) for out in workflow.plan.outgoing)
    print(f"valid: {workflow.node_count} nodes, {edges} edges")
    return EXIT_SUCCEEDED


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _print_error(details: list[dict[str, str]]) -> None:
    json.dump({"success": False, "error": "invalid workflow", "details": details}, sys.stderr,
              indent=2)
    sys.stderr.write("\n")


def _fallback(value: Any) -> Any:
    return repr(value)


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
