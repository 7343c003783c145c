"""The scheduler: runs ready nodes (in parallel where the graph allows), enforces limits.

One loop serves every workflow. Nodes become ready when all their sources are decided
(Kahn's algorithm, so pure workflows run in exactly Thaiyyal's order); pure nodes run
inline on the calling thread, where a thread hop would cost more than the work;
I/O-bound nodes and nodes with a `retry`/`timeout` policy run on a process-wide thread
pool, at most `max_parallel_branches` of a run at once, so independent branches
overlap. The run never outlives its deadline: the caller stops waiting, records which
nodes were still running, and cancels them (their sockets close and their waits wake).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import threading
import time
from collections import ChainMap, deque
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from engine.bounds import ValueTooBig, admit, measure
from engine.errors import (
    Cancelled,
    ExecutionError,
    ExpressionError,
    LimitExceeded,
    NodeError,
    PayloadError,
    Problem,
)
from engine.expressions.scope import Scope
from engine.limits import Limits
from engine.metering import meter_for
from engine.nodes.base import Failure
from engine.observe import Observer
from engine.result import NodeOutcome, Result
from engine.state import NodeContext, Run

if TYPE_CHECKING:
    from engine.payload import Workflow

SUCCEEDED, FAILED, SKIPPED, CANCELLED, RUNNING, QUEUED = (
    "succeeded", "failed", "skipped", "cancelled", "running", "queued")
_DECIDED = frozenset({SUCCEEDED, FAILED, SKIPPED, CANCELLED})
_SIZED = frozenset({str, list, dict})
_NESTED = frozenset({list, dict})


_POOL_LOCK = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
#: threads shared by all runs of the process; each run uses at most max_parallel_branches
POOL_THREADS = 64


def branch_pool() -> ThreadPoolExecutor:
    """The process-wide branch pool. Shared because starting threads for every run cost
    more than a cached HTTP call; rebuilt after a fork (gunicorn workers), whose child
    inherits no threads."""
    global _pool, _pool_pid
    pid = os.getpid()
    if _pool is None or _pool_pid != pid:
        with _POOL_LOCK:
            if _pool is None or _pool_pid != pid:
                _pool = ThreadPoolExecutor(max_workers=POOL_THREADS,
                                           thread_name_prefix="thaiyyal-branch")
                _pool_pid = pid
    return _pool


def execute_workflow(workflow: Workflow, limits: Limits, observer: Observer | None,
                     inputs: Mapping[str, Any] | None,
                     services: dict[str, Any] | None) -> Result:
    execution_id = secrets.token_hex(8)
    context = workflow.context_defaults()
    if inputs:
        context.update(bind_inputs(workflow, inputs, limits.max_depth))
    run = Run(execution_id, limits, context, observer, services)
    started = run.services.get("run_started")
    if started is not None:
        # The caller's handle on the run: it may stop it from another thread (run.cancel()).
        started(run)
    if observer is not None:
        _notify(observer.run_started, execution_id, workflow.workflow_id, workflow.node_count)
    scheduler = _Scheduler(workflow, run, run.results, observer, root_input=None, inline=False)
    scheduler.execute()
    result = scheduler.result(execution_id, workflow.workflow_id)
    if observer is not None:
        code = result.error["code"] if result.error else None
        _notify(observer.run_finished, execution_id, result.status, result.duration_ms, code)
    return result


def run_body(body: Workflow, ctx: NodeContext, input_value: Any, item: Any,
             index: int | None) -> Any:
    """Run a loop body inside the caller's run (same deadline, counters, state). Bodies run
    inline on the loop's thread; the loop node itself may be on the pool."""
    scheduler = _Scheduler(body, ctx.run, {}, None, root_input=input_value, inline=True,
                           loop=(item, index))
    scheduler.execute()
    error = scheduler.error
    if isinstance(error, LimitExceeded | Cancelled):
        raise error
    if error is not None:
        raise NodeError(f"body failed at node {error.node_id!r}: {error.message}", ctx.node_id)
    return scheduler.final_output()


def _loop_scope(run: Run, item: Any, index: int | None) -> Scope:
    """A body's scope: the run's, plus `variables.item` and `variables.index` (Thaiyyal's
    names), so nodes deep in a body can read the current element."""
    loop_vars = {"item": item, "index": index}
    return dataclasses.replace(run.scope, variables=ChainMap(loop_vars, run.state.variables))


def bind_inputs(workflow: Workflow, inputs: Mapping[str, Any],
                max_depth: int | None = None) -> dict[str, Any]:
    """Caller inputs as `context.<name>` values: each must name a `context_variable` of the
    workflow, obey the number rule and `max_depth` (engine/bounds.py) and convert to its
    declared type. PayloadError lists every bad input."""
    max_depth = max_depth or Limits().max_depth
    owners: dict[str, Any] = {}
    for i in workflow.plan.order:
        node = workflow.nodes[i]
        if node.type_name == "context_variable":
            owners.update(dict.fromkeys(node.context_values(), node))
    bound: dict[str, Any] = {}
    problems = []
    for name, value in inputs.items():
        path = f"$.inputs.{name}"
        owner = owners.get(name)
        if owner is None:
            known = ", ".join(sorted(owners)) or "none"
            problems.append(Problem(path, f"unknown input (context variables: {known})"))
            continue
        before = len(problems)
        value, _ = admit(value, max_depth, path,
                         lambda where, message: problems.append(Problem(where, message)))
        if len(problems) > before:
            continue
        try:
            bound[name] = owner.coerce(name, value)
        except ValueError as exc:
            problems.append(Problem(path, str(exc)))
    if problems:
        raise PayloadError(problems)
    return bound


def _notify(hook: Any, *args: Any) -> None:
    try:
        hook(*args)
    except Exception:  # noqa: BLE001 - a broken observer must never fail a run
        pass


def check_size(value: Any, limits: Limits) -> None:
    """Bound what a node returns: strings and arrays, at the top and one level into objects."""
    if isinstance(value, str):
        if len(value) > limits.max_string_length:
            raise LimitExceeded("max_string_length", limits.max_string_length,
                                detail=f"result string has {len(value)} characters")
    elif isinstance(value, list):
        if len(value) > limits.max_array_length:
            raise LimitExceeded("max_array_length", limits.max_array_length,
                                detail=f"result array has {len(value)} items")
    elif isinstance(value, dict):
        for inner in value.values():
            if isinstance(inner, str | list):
                check_size(inner, limits)


class _Gates:
    """`parallel {max_concurrency}` gates. A pooled node below a `parallel` node takes a
    seat of that gate before it is submitted; when the gate is full it waits here, in
    arrival order, and the seat passes to it when a node of the gate finishes."""

    __slots__ = ("gate_of", "nodes", "seated", "waiting")

    def __init__(self, gate_of: Mapping[int, int], nodes: tuple[Any, ...]) -> None:
        #: node index -> index of the `parallel` node whose cap applies to it
        self.gate_of = gate_of
        self.nodes = nodes
        self.seated: dict[int, int] = {}
        self.waiting: dict[int, deque[tuple[int, list[Any]]]] = {}

    def admit(self, i: int, inputs: list[Any]) -> bool:
        """Whether node `i` may be submitted now; if not, it waits for a seat."""
        gate = self.gate_of.get(i)
        if gate is None:
            return True
        cap = self.nodes[gate].concurrency_cap() or 1
        seated = self.seated.get(gate, 0)
        if seated < cap:
            self.seated[gate] = seated + 1
            return True
        self.waiting.setdefault(gate, deque()).append((i, inputs))
        return False

    def leave(self, i: int) -> tuple[int, list[Any]] | None:
        """Node `i` finished: the node that takes its seat, if one waits."""
        gate = self.gate_of.get(i)
        if gate is None:
            return None
        waiting = self.waiting.get(gate)
        if waiting:
            return waiting.popleft()
        self.seated[gate] -= 1
        return None

    def waiters(self) -> list[int]:
        return [i for queue in self.waiting.values() for i, _ in queue]


#: shared by workflows without a `parallel {max_concurrency}`: it admits every node at once
#: and so never holds state
_NO_GATES = _Gates({}, ())


class _Branches:
    """Pooled nodes of one run on the process-wide branch pool: at most
    `max_parallel_branches` in flight; the others wait in the backlog, first come first
    served."""

    __slots__ = ("cap", "inflight", "backlog")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.inflight: dict[Future[Any], int] = {}
        self.backlog: deque[tuple[int, list[Any]]] = deque()

    def submit(self, i: int, inputs: list[Any], work: Any) -> None:
        if len(self.inflight) >= self.cap:
            self.backlog.append((i, inputs))
            return
        self.inflight[branch_pool().submit(work, i, inputs)] = i

    def wait(self, timeout: float) -> list[tuple[int, Future[Any]]]:
        """(node, future) of the branches that finished within `timeout` (empty: none did)."""
        done, _ = wait(self.inflight, timeout=max(0.0, timeout), return_when=FIRST_COMPLETED)
        return [(self.inflight.pop(future), future) for future in done]

    def refill(self, work: Any) -> None:
        """Start backlogged nodes while there is room."""
        while self.backlog and len(self.inflight) < self.cap:
            i, inputs = self.backlog.popleft()
            self.inflight[branch_pool().submit(work, i, inputs)] = i

    def running(self) -> list[int]:
        return list(self.inflight.values())


class _ResultBound:
    """Keeps every node result encodable (within `max_depth` and `max_result_values`,
    engine/bounds.py) without walking big results on the hot path.

    Node types that build their result from one copy of their input (filter, map over
    `item`, range, condition...) declare how many levels they add (Node.nesting): their
    result's depth is bounded by the deepest bound among its inputs and its own data plus
    that, and their size by what they allocate. Only when that bound passes the limit, or
    the node type cannot say (state, loops, the network, expressions that repeat a value),
    is the result measured; the measure then replaces the bound."""

    __slots__ = ("limit", "max_values", "check_deadline", "bound", "nesting", "floor",
                 "incoming", "root")

    def __init__(self, workflow: Workflow, run: Run, root_inputs: bool) -> None:
        limits = run.limits
        self.limit = limits.max_depth
        self.max_values = limits.max_result_values
        self.check_deadline = run.check_deadline
        self.bound = [0] * len(workflow.nodes)
        self.nesting = workflow.nesting
        self.floor = workflow.value_depths
        self.incoming = workflow.plan.incoming
        #: a loop body's root nodes read a value whose depth this run has not bounded
        self.root = self.limit if root_inputs else 0

    def check(self, i: int, value: Any) -> None:
        """Record the bound of node `i`'s container result; raise when it is too deep."""
        nesting = self.nesting[i]
        if nesting is not None:
            base = self.floor[i]
            incoming = self.incoming[i]
            if incoming:
                bound = self.bound
                for s, _ in incoming:
                    if bound[s] > base:
                        base = bound[s]
            elif self.root > base:
                base = self.root
            if base + nesting <= self.limit:
                self.bound[i] = base + nesting
                return
        try:
            self.bound[i] = measure(value, self.limit, self.max_values, self.check_deadline)
        except ValueTooBig as exc:
            raise LimitExceeded(exc.limit, exc.value, detail=str(exc)) from None


class _Scheduler:
    """Runs one workflow (or one loop body) inside a run.

    Node state lives in per-node lists indexed by plan position (`status`, `values`,
    `started`, ...): the hot path is a list index, not an object per node. A node goes
    None -> QUEUED (in `ready`) -> (inline: run at once | pooled: RUNNING, via `gates` and
    `branches`) -> SUCCEEDED / FAILED / SKIPPED / CANCELLED, and `release` queues the nodes
    it was the last input of.
    """

    def __init__(self, workflow: Workflow, run: Run, results: dict[str, Any],
                 observer: Observer | None, root_input: Any, inline: bool,
                 loop: tuple[Any, int | None] | None = None) -> None:
        n = len(workflow.nodes)
        self.wf = workflow
        self.nodes = workflow.nodes
        self.plan = workflow.plan
        self.run = run
        self.results = results
        self.observer = observer
        self.root_inputs = [] if root_input is None and loop is None else [root_input]
        self.inline = inline
        self.status: list[str | None] = [None] * n
        self.values: list[Any] = [None] * n
        self.started = [0.0] * n
        self.duration = [0.0] * n
        self.attempts = [0] * n
        self.messages: list[str | None] = [None] * n
        #: inputs each node still waits for
        self.waiting = list(self.plan.source_count)
        self.catchers = workflow.catchers
        self.branches = _Branches(run.limits.max_parallel_branches)
        self.gates = _Gates(workflow.gates, workflow.nodes) if workflow.gates else _NO_GATES
        self.bounds = _ResultBound(workflow, run, bool(self.root_inputs))
        self.ready: deque[int] = deque()
        self.error: ExecutionError | None = None
        self.still_running: list[str] = []
        self.t0 = time.perf_counter()
        #: shared by inline nodes, which run one at a time on this thread
        self.scope = run.scope if loop is None else _loop_scope(run, *loop)
        self.ctx = NodeContext(run, "", scope=self.scope)
        self.max_executions = run.limits.max_node_executions
        self.first_input = workflow.first_input
        #: the run's deadline on the perf_counter clock, which run_inline reads anyway
        self.deadline = run.deadline - time.monotonic() + time.perf_counter()

    # -- main loop ---------------------------------------------------------------------
    def execute(self) -> None:
        plan = self.plan
        for i in plan.order:
            if not plan.incoming[i]:
                self.status[i] = QUEUED
                self.ready.append(i)
        branches = self.branches
        previous_meter = meter_for(self.run.check_deadline)
        try:
            while True:
                while self.ready and self.error is None:
                    self.start(self.ready.popleft())
                if self.error is not None or not branches.inflight:
                    break
                if not self.any_needed():
                    self.abandon()
                    break
                self.wait_some()
        finally:
            meter_for(previous_meter)
            if branches.inflight:
                # Past the deadline they stay "running" (the result lists them); otherwise
                # another node's failure stopped the run and they are cancelled.
                if not self.still_running:
                    for i in branches.running():
                        self.status[i] = CANCELLED
                self.run.cancel()
            for i, _ in branches.backlog:
                self.status[i] = CANCELLED
            if self.gates.waiting:
                for i in self.gates.waiters():
                    self.status[i] = CANCELLED

    def wait_some(self) -> None:
        done = self.branches.wait(self.run.deadline - time.monotonic())
        if not done:
            self.still_running = [self.nodes[i].id for i in self.branches.running()]
            self.error = LimitExceeded(
                "max_execution_time", f"{self.run.limits.max_execution_time:g}s",
                detail="still running: " + ", ".join(self.still_running))
            return
        # Complete in plan order so outcomes do not depend on thread timing.
        for i, future in sorted(done, key=lambda pair: self.plan.position[pair[0]]):
            self.finish(i, *future.result())
            successor = self.gates.leave(i)
            if successor is not None:
                self.submit(*successor)
        self.branches.refill(self.invoke)

    def any_needed(self) -> bool:
        """Whether some in-flight node can still affect an undecided node or the output.
        False once e.g. a join(any) has moved on without the slow branches."""
        needed = [False] * len(self.nodes)
        status, outgoing, terminal = self.status, self.plan.outgoing, self.plan.terminal
        for i in reversed(self.plan.order):
            if status[i] in _DECIDED:
                continue
            needed[i] = terminal[i] or any(needed[t] for t in outgoing[i])
        return any(needed[i] for i in self.branches.running())

    def abandon(self) -> None:
        for i in self.branches.running():
            self.status[i] = CANCELLED
            self.messages[i] = "cancelled: no longer needed by any downstream node"
        self.branches.inflight.clear()
        for i, st in enumerate(self.status):
            if st is None or st == QUEUED:
                self.status[i] = CANCELLED
        self.run.cancel()  # wake the abandoned branches: no thread keeps working for this run

    # -- one node ------------------------------------------------------------------------
    def start(self, i: int) -> None:
        incoming = self.plan.incoming[i]
        if incoming:
            inputs = self.gather(i, incoming)
            if inputs is None:
                self.finish(i, SKIPPED, None, None, 0, 0.0, 0.0)
                return
        else:
            inputs = list(self.root_inputs)
        if next(self.run.executions) > self.max_executions:
            self.fail(i, LimitExceeded("max_node_executions", self.max_executions,
                                       self.nodes[i].id))
        elif not self.wf.pooled[i]:
            self.run_inline(i, inputs)
        elif self.inline:
            self.finish(i, *self.invoke(i, inputs))
        else:
            self.status[i] = RUNNING
            if self.gates.admit(i, inputs):
                self.submit(i, inputs)

    def run_inline(self, i: int, inputs: list[Any]) -> None:
        """The hot path for pure nodes: no thread hop, no per-node context allocation."""
        node = self.nodes[i]
        if self.observer is not None:
            _notify(self.observer.node_started, self.run.execution_id, node.id, node.type_name)
        ctx = self.ctx
        ctx.node_id = node.id
        started = time.perf_counter()
        try:
            if started > self.deadline:
                self.run.check_deadline()  # raises: no node starts past the deadline
            value = node.run(inputs, ctx)
            if value.__class__ in _SIZED:
                check_size(value, self.run.limits)
                if value.__class__ is not str:
                    self.bounds.check(i, value)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a node error value
            self.finish(i, FAILED, None, _as_execution_error(exc, node.id), 1, started,
                        time.perf_counter() - started)
            return
        self.finish(i, SUCCEEDED, value, None, 1, started, time.perf_counter() - started)

    def submit(self, i: int, inputs: list[Any]) -> None:
        self.status[i] = RUNNING
        self.branches.submit(i, inputs, self.invoke)

    def gather(self, i: int, incoming: tuple[tuple[int, str | None], ...]) -> list[Any] | None:
        """Inputs from sources whose edge fires, in edge order; None when nothing fires."""
        inputs = []
        catches = self.nodes[i].catches_errors
        for s, handle in incoming:
            st = self.status[s]
            if st == SUCCEEDED:
                value = self.values[s]
                if handle is None or self.nodes[s].fires(value, handle):
                    inputs.append(value)
            elif st == FAILED and catches:
                inputs.append(self.values[s])
        return inputs or None

    def invoke(self, i: int, inputs: list[Any]) -> tuple[str, Any, ExecutionError | None,
                                                          int, float, float]:
        """Run node `i` (with its retry/timeout policy); never raises."""
        node = self.nodes[i]
        observer = self.observer
        if observer is not None:
            _notify(observer.node_started, self.run.execution_id, node.id, node.type_name)
        policy = self.wf.policies[i]
        started = time.perf_counter()
        attempts = 1
        try:
            previous_meter = meter_for(self.run.check_deadline)  # may be a pool thread
            try:
                if policy.active:
                    value, attempts = self.with_policy(i, inputs)
                else:
                    ctx = NodeContext(self.run, node.id, scope=self.scope)
                    ctx.check_deadline()
                    value = node.run(inputs, ctx)
            finally:
                meter_for(previous_meter)
            check_size(value, self.run.limits)
            if value.__class__ in _NESTED:
                self.bounds.check(i, value)
            return SUCCEEDED, value, None, attempts, started, time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - every failure becomes a node error value
            error = _as_execution_error(exc, node.id)
            attempts = getattr(exc, "attempts", attempts)
            return FAILED, None, error, attempts, started, time.perf_counter() - started

    def with_policy(self, i: int, inputs: list[Any]) -> tuple[Any, int]:
        node = self.nodes[i]
        policy = self.wf.policies[i]
        retry = policy.retry
        max_attempts = retry.max_attempts if retry else 1
        attempt = 0
        while True:
            attempt += 1
            ctx = NodeContext(self.run, node.id, timeout=policy.timeout, scope=self.scope)
            try:
                ctx.check_deadline()
                return node.run(inputs, ctx), attempt
            except Exception as exc:  # noqa: BLE001 - classified below
                error = _as_execution_error(exc, node.id)
                if retry is None or attempt >= max_attempts or not retry.should_retry(error):
                    if attempt > 1:
                        error.message = f"{error.message} (after {attempt} attempts)"
                        error.args = (error.message,)
                    error.attempts = attempt  # type: ignore[attr-defined]
                    raise error from exc
                NodeContext(self.run, node.id).sleep(retry.delay(attempt))

    def finish(self, i: int, status: str, value: Any, error: ExecutionError | None,
               attempts: int, started: float, duration: float) -> None:
        node = self.nodes[i]
        self.status[i] = status
        self.started[i] = started
        self.duration[i] = duration
        self.attempts[i] = attempts
        if status == SUCCEEDED:
            self.values[i] = value
            self.results[node.id] = value
        elif status == FAILED:
            assert error is not None
            self.messages[i] = error.message
            if self.catchers[i]:
                self.values[i] = Failure(node.id, error.message, error.code)
            elif self.error is None:
                self.error = error
        observer = self.observer
        if observer is not None and status != SKIPPED:
            _notify(observer.node_finished, self.run.execution_id, node.id, node.type_name,
                    status, duration * 1000.0, self.messages[i])
        self.release(i)

    def fail(self, i: int, error: ExecutionError) -> None:
        self.finish(i, FAILED, None, error, 0, time.perf_counter(), 0.0)

    def release(self, i: int) -> None:
        """Node `i` is decided: queue each successor that no longer waits for an input."""
        fired = self.status[i] == SUCCEEDED
        for t in self.plan.outgoing[i]:
            if self.status[t] is not None:
                continue  # already queued early (join any/first)
            self.waiting[t] -= 1
            if self.waiting[t] == 0 or (fired and self.first_input[t]
                                        and self.fires_to(i, t)):
                self.status[t] = QUEUED
                self.ready.append(t)

    def fires_to(self, s: int, t: int) -> bool:
        value = self.values[s]
        return any(src == s and (h is None or self.nodes[s].fires(value, h))
                   for src, h in self.plan.incoming[t])

    # -- outcome -------------------------------------------------------------------------
    def final_output(self) -> Any:
        """The terminal node that ran last in plan order; context nodes only as a fallback."""
        fallback = None
        for i in reversed(self.plan.order):
            if self.plan.terminal[i] and self.status[i] == SUCCEEDED:
                if not self.nodes[i].is_context:
                    return self.values[i]
                if fallback is None:
                    fallback = (self.values[i],)
        return fallback[0] if fallback else None

    def result(self, execution_id: str, workflow_id: str | None) -> Result:
        error = self.error
        node_results = {self.nodes[i].id: self.values[i] for i in self.plan.order
                        if self.status[i] == SUCCEEDED}
        return Result(
            execution_id=execution_id,
            status="failed" if error is not None else "succeeded",
            final_output=None if error is not None else self.final_output(),
            node_results=node_results,
            timeline=self.timeline,
            duration_ms=round((time.perf_counter() - self.t0) * 1000, 3),
            workflow_id=workflow_id,
            errors=[f"error executing node {error.node_id}: {error.message}"
                    if error.node_id else error.message] if error is not None else [],
            error=error.to_dict() if error is not None else None,
            still_running=self.still_running,
        )

    def timeline(self) -> list[NodeOutcome]:
        outcomes = []
        for i in self.plan.order:
            node = self.nodes[i]
            st = self.status[i]
            if st in (None, QUEUED):
                st = CANCELLED if self.error is not None else SKIPPED
            ran = st in (SUCCEEDED, FAILED) or (st in (RUNNING, CANCELLED) and self.started[i])
            outcomes.append(NodeOutcome(
                id=node.id, type=node.type_name, status=st,
                started_ms=round((self.started[i] - self.t0) * 1000, 3) if ran else None,
                duration_ms=round(self.duration[i] * 1000, 3) if st in (SUCCEEDED, FAILED)
                else None,
                error=self.messages[i], attempts=self.attempts[i]))
        return outcomes


def _as_execution_error(exc: BaseException, node_id: str) -> ExecutionError:
    if isinstance(exc, ExecutionError):
        if exc.node_id is None:
            exc.node_id = node_id
        return exc
    if isinstance(exc, ExpressionError):
        return NodeError(str(exc), node_id)
    if isinstance(exc, RecursionError | MemoryError):
        return NodeError(f"node ran out of resources: {type(exc).__name__}", node_id)
    return NodeError(f"internal error: {type(exc).__name__}: {exc}", node_id)
