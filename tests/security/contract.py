"""Schemathesis against a real `thaiyyal serve`: every operation of the published OpenAPI
schema, all phases (examples, coverage, fuzzing, stateful), with the checks that the
contract holds: no 5xx, every status documented, every response body and content type
as documented. Used by tests/security/test_api_contract.py: a short run in `make test`,
and a long one in `make fuzz-api` (the same test with THAIYYAL_CONTRACT_LONG=1)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
#: every phase (the long run); the short one leaves out `coverage`, whose thousands of
#: boundary and negative variants of each parameter take minutes
ALL_PHASES = "examples,coverage,fuzzing,stateful"
SHORT_PHASES = "examples,fuzzing,stateful"


@dataclass
class Outcome:
    exit_code: int
    output: str
    operations: set[str] = field(default_factory=set)
    requests: int = 0
    server_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def run_schemathesis(base: str, token: str, report_dir: Path, max_examples: int,
                     phases: str = SHORT_PHASES, max_time: int | None = None,
                     seed: int = 13) -> Outcome:
    report_dir.mkdir(parents=True, exist_ok=True)
    cassette = report_dir / "cassette.yaml"
    command = [str(SCHEMATHESIS), "run", f"{base}/api/schema/", "--url", base,
               "-H", f"Authorization: Token {token}", "--phases", phases,
               "--checks", ",".join(CHECKS), "--max-examples", str(max_examples),
               "--seed", str(seed), "--workers", "1", "--request-timeout", "30",
               "--generation-database", "none", "--no-color",
               "--report", "vcr,junit", "--report-vcr-path", str(cassette),
               "--report-junit-path", str(report_dir / "junit.xml")]
    if max_time:
        command += ["--max-time", str(max_time)]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, timeout=(max_time or 900) + 300)
    outcome = Outcome(done.returncode, done.stdout + done.stderr)
    _count(cassette, outcome)
    _operations(report_dir / "junit.xml", outcome)
    return outcome


def _operations(junit: Path, outcome: Outcome) -> None:
    """The operations tested (one JUnit test case each) and those that failed."""
    if not junit.exists():
        return
    import xml.etree.ElementTree as ET

    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        if name.split(" ")[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            outcome.operations.add(name)
        for problem in (*case.iter("failure"), *case.iter("error")):
            outcome.failures.append(f"{name}: {(problem.get('message') or '')[:500]}")


def _count(cassette: Path, outcome: Outcome) -> None:
    """Requests, statuses and operations from the VCR cassette of the run."""
    if not cassette.exists():
        return
    import yaml

    recorded: Any = yaml.safe_load(cassette.read_text()) or {}
    for interaction in recorded.get("http_interactions", []):
        status = int(interaction["response"]["status"]["code"])
        outcome.requests += 1
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        if status >= 500:
            outcome.server_errors += 1


def summary(outcome: Outcome) -> str:
    return json.dumps({"operations": len(outcome.operations), "requests": outcome.requests,
                       "5xx": outcome.server_errors, "failures": len(outcome.failures),
                       "statuses": dict(sorted(outcome.statuses.items())),
                       "exit_code": outcome.exit_code})
