"""Locust load test: users POST deploy/loadtest/workflow.json to the execute endpoint.

    THAIYYAL_TOKEN=... locust -f deploy/loadtest/locustfile.py --headless \
        --host http://127.0.0.1:8080 -u 50 -r 10 -t 2m

The base URL is locust's --host (or LOCUST_HOST); the API token is THAIYYAL_TOKEN. When
the run ends the process exits non-zero if p95 latency is 500 ms or more, more than 1% of
requests failed, or no request completed at all — the same thresholds as load-test.js.
THAIYYAL_P95_MS and THAIYYAL_MAX_FAILURE_RATIO change them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from locust import HttpUser, between, events, task
from locust.env import Environment

BODY = (Path(__file__).resolve().parent / "workflow.json").read_bytes()
PATH = os.environ.get("THAIYYAL_PATH", "/api/v1/workflow/execute")
P95_MS = float(os.environ.get("THAIYYAL_P95_MS", "500"))
MAX_FAILURE_RATIO = float(os.environ.get("THAIYYAL_MAX_FAILURE_RATIO", "0.01"))

log = logging.getLogger("thaiyyal.loadtest")


def _token() -> str:
    token = os.environ.get("THAIYYAL_TOKEN", "").strip()
    if not token:
        raise SystemExit("set THAIYYAL_TOKEN to an API token")
    return token


class WorkflowUser(HttpUser):
    # A short think time: each user is a busy API client, not a person.
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.headers = {"Content-Type": "application/json",
                        "Authorization": f"Token {_token()}"}

    @task
    def execute_workflow(self) -> None:
        with self.client.post(PATH, data=BODY, headers=self.headers, name="execute",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            try:
                ok = response.json().get("success") is True
            except ValueError:
                ok = False
            if not ok:
                response.failure(f"not a successful run: {response.text[:200]}")


def threshold_problems(environment: Environment) -> list[str]:
    """What the finished run missed, empty when every threshold held."""
    total = environment.stats.total
    if total.num_requests == 0:
        return ["no request completed"]
    problems = []
    p95 = total.get_response_time_percentile(0.95)
    if p95 >= P95_MS:
        problems.append(f"p95 {p95:.0f} ms >= {P95_MS:.0f} ms")
    if total.fail_ratio > MAX_FAILURE_RATIO:
        problems.append(f"failure rate {total.fail_ratio:.2%} > {MAX_FAILURE_RATIO:.2%}")
    return problems


@events.quitting.add_listener
def enforce_thresholds(environment: Environment, **_kwargs: object) -> None:
    problems = threshold_problems(environment)
    total = environment.stats.total
    summary = (f"{total.num_requests} requests, {total.num_failures} failed, "
               f"p95 {total.get_response_time_percentile(0.95):.0f} ms, "
               f"{total.total_rps:.1f} req/s")
    if problems:
        log.error("thresholds missed: %s (%s)", "; ".join(problems), summary)
        environment.process_exit_code = 1
    else:
        log.info("thresholds met (%s)", summary)
        environment.process_exit_code = 0
