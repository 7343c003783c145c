"""JSON payload -> immutable, validated `Workflow`. Every problem is reported, with its path.

Two steps: `engine.payload_check` reports problems (and nothing else); `build_workflow` here
turns what passed into nodes, the plan and the policies (and never reports problems).
Nothing a user sends may raise anything but `PayloadError` from `Workflow.load`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine import bounds, regex
from engine.errors import PayloadError, Problem
from engine.graph import Plan, build_plan, concurrency_gates
from engine.limits import Limits
from engine.nodes.base import Node
from engine.payload_check import CheckedPayload, NodeSpec, PayloadChecker
from engine.policy import NodePolicy
from engine.runner import execute_workflow

if TYPE_CHECKING:
    from engine.observe import Observer
    from engine.result import Result

DEFAULT_LIMITS = Limits()


def build_workflow(checked: CheckedPayload) -> Workflow:
    """The runnable Workflow for a checked payload (loop bodies built too)."""
    built = [_build_node(spec) for spec in checked.specs]
    nodes = tuple(n for n, _ in built)
    plan = build_plan(list(checked.node_ids), list(checked.edges))
    policies = apply_upstream_policies(nodes, [p for _, p in built], plan)
    return Workflow(
        nodes=nodes,
        policies=policies,
        plan=plan,
        workflow_id=checked.workflow_id,
        catchers=tuple(any(nodes[t].catches_errors for t in out) for out in plan.outgoing),
        pooled=tuple(node.io_bound or policy.active
                     for node, policy in zip(nodes, policies, strict=True)),
        first_input=tuple(node.wants_first_input for node in nodes),
        gates=concurrency_gates(
            [i for i, node in enumerate(nodes) if node.concurrency_cap()], plan),
        value_depths=tuple(spec.config["_depth"] for spec in checked.specs),
        nesting=tuple(node.result_nesting() for node in nodes),
    )


def _build_node(spec: NodeSpec) -> tuple[Node, NodePolicy]:
    config: dict[str, Any] = {
        key: build_workflow(value) if isinstance(value, CheckedPayload) else value
        for key, value in spec.config.items()}
    policy = config.pop("_policy")
    config.pop("_depth")
    return spec.cls(spec.node_id, config), policy


def apply_upstream_policies(nodes: tuple[Node, ...], policies: list[NodePolicy],
                            plan: Plan) -> tuple[NodePolicy, ...]:
    """Give each `retry` / `timeout` node's policy to the nearest upstream nodes that do work
    (through chains of such nodes: `http -> timeout -> retry` bounds and retries the http).
    A node's own `data.retry` wins over a retry node's; the tightest timeout wins."""
    merged = list(policies)
    for t in plan.order:
        extra = nodes[t].upstream_policy()
        if extra is None:
            continue
        stack, seen = [s for s, _ in plan.incoming[t]], set()
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            if nodes[s].upstream_policy() is not None:
                stack.extend(src for src, _ in plan.incoming[s])
                continue
            own = merged[s]
            timeouts = [x for x in (own.timeout, extra.timeout) if x is not None]
            merged[s] = NodePolicy(retry=own.retry or extra.retry,
                                   timeout=min(timeouts) if timeouts else None)
    return tuple(merged)


def decode(payload: Any, limits: Limits) -> Any:
    """bytes/str -> JSON value, within the payload size limit; dicts pass through."""
    if isinstance(payload, bytes | bytearray | memoryview):
        payload = bytes(payload)
        if len(payload) > limits.max_payload_bytes:
            raise PayloadError([Problem("$", f"payload of {len(payload)} bytes exceeds limit "
                                             f"max_payload_bytes={limits.max_payload_bytes}")])
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError([Problem("$", f"payload is not UTF-8: {exc.reason} "
                                             f"at byte {exc.start}")]) from None
    if isinstance(payload, str):
        if len(payload) > limits.max_payload_bytes:
            raise PayloadError([Problem("$", f"payload of {len(payload)} characters exceeds "
                                             f"limit max_payload_bytes="
                                             f"{limits.max_payload_bytes}")])
        try:
            return bounds.loads_payload(payload)
        except json.JSONDecodeError as exc:
            raise PayloadError([Problem("$", f"malformed JSON: {exc.msg} at line {exc.lineno} "
                                             f"column {exc.colno}")]) from None
        except RecursionError:
            raise PayloadError([Problem("$", "malformed JSON: nested too deeply")]) from None
        except ValueError as exc:  # what a parse hook refused
            raise PayloadError([Problem("$", f"malformed JSON: {exc}")]) from None
    return payload


@dataclass(frozen=True, slots=True)
class Workflow:
    """A loaded workflow: immutable, reusable, thread-safe to execute concurrently."""

    nodes: tuple[Node, ...]
    policies: tuple[NodePolicy, ...]
    plan: Plan
    workflow_id: str | None
    #: per node: whether a direct successor catches its errors (try_catch)
    catchers: tuple[bool, ...]
    #: per node: runs on the branch pool (I/O-bound, or has a retry/timeout policy)
    pooled: tuple[bool, ...]
    #: per node: ready as soon as one input fires (join any/first)
    first_input: tuple[bool, ...]
    #: node index -> the `parallel` node whose max_concurrency bounds it
    gates: Mapping[int, int]
    #: per node: the nesting depth of the values in its data
    value_depths: tuple[int, ...]
    #: per node: Node.result_nesting() (levels its result may add; None: measure it)
    nesting: tuple[int | None, ...]

    @classmethod
    def load(cls, payload: Any, limits: Limits | None = None) -> Workflow:
        """Validate and compile `payload` (dict, JSON str or bytes).

        Raises PayloadError listing every problem found, each with a JSON path.
        """
        limits = limits or DEFAULT_LIMITS
        doc = decode(payload, limits)
        checker = PayloadChecker(limits, "$", 0)
        try:
            with regex.compile_budget():  # schema patterns are compiled to check them
                checked = checker.check(doc)
        except RecursionError:
            raise PayloadError([Problem("$", "payload nested too deeply")]) from None
        if checked is None:
            raise PayloadError(checker.problems)
        return build_workflow(checked)

    @property
    def node_count(self) -> int:
        return len(self.nodes)

    def context_defaults(self) -> dict[str, Any]:
        """`context.<name>` values defined by the workflow's context nodes, in order."""
        values: dict[str, Any] = {}
        for i in self.plan.order:
            node = self.nodes[i]
            if node.is_context:
                values.update(node.context_values())
        return values

    def execute(self, limits: Limits | None = None, observer: Observer | None = None,
                inputs: Mapping[str, Any] | None = None,
                services: dict[str, Any] | None = None) -> Result:
        """Run once. Never raises for a failing run: see `Result.status` and `errors`.
        `inputs` override context values by name (see `bind_inputs`)."""
        return execute_workflow(self, limits or DEFAULT_LIMITS, observer, inputs, services)
