"""The static shape of a workflow: execution order, edges per node, cycles, terminals.

Built once per `Workflow.load`; the runner only reads it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    handle: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Indexes refer to the workflow's node list.

    `order` is Thaiyyal's Kahn order (initial zero-in-degree nodes sorted by id, then
    first-in first-out as edges release targets); `incoming[i]` lists (source, handle)
    in the order of the payload's `edges` array, which is the order of a node's inputs.
    """

    order: tuple[int, ...]
    position: tuple[int, ...]
    incoming: tuple[tuple[tuple[int, str | None], ...], ...]
    outgoing: tuple[tuple[int, ...], ...]
    terminal: tuple[bool, ...]
    #: distinct sources per node: how many must be decided before it is ready
    source_count: tuple[int, ...]


def build_plan(ids: Sequence[str], edges: Sequence[Edge]) -> Plan:
    """Order the nodes. The graph must be acyclic (check with `find_cycle` first)."""
    index = {node_id: i for i, node_id in enumerate(ids)}
    incoming: list[list[tuple[int, str | None]]] = [[] for _ in ids]
    outgoing: list[list[int]] = [[] for _ in ids]
    for edge in edges:
        s, t = index[edge.source], index[edge.target]
        incoming[t].append((s, edge.handle))
        if t not in outgoing[s]:
            outgoing[s].append(t)
    waiting = [len({s for s, _ in inc}) for inc in incoming]
    queue = deque(sorted((i for i in range(len(ids)) if waiting[i] == 0), key=ids.__getitem__))
    order: list[int] = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for t in outgoing[i]:
            waiting[t] -= 1
            if waiting[t] == 0:
                queue.append(t)
    if len(order) != len(ids):
        raise ValueError("graph has a cycle")
    position = [0] * len(ids)
    for pos, i in enumerate(order):
        position[i] = pos
    return Plan(
        order=tuple(order),
        position=tuple(position),
        incoming=tuple(tuple(inc) for inc in incoming),
        outgoing=tuple(tuple(out) for out in outgoing),
        terminal=tuple(not out for out in outgoing),
        source_count=tuple(len({s for s, _ in inc}) for inc in incoming),
    )


def find_cycle(ids: Sequence[str], edges: Sequence[Edge]) -> list[str] | None:
    """The node ids on one cycle, in edge order and closed (`[a, b, a]`), or None."""
    successors: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for edge in edges:
        successors[edge.source].append(edge.target)
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(ids, white)
    for root in ids:
        if colour[root] != white:
            continue
        # Iterative DFS: a deep chain must not hit Python's recursion limit.
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        colour[root] = grey
        while stack:
            node, next_child = stack[-1]
            children = successors[node]
            if next_child == len(children):
                stack.pop()
                path.pop()
                colour[node] = black
                continue
            stack[-1] = (node, next_child + 1)
            child = children[next_child]
            if colour[child] == grey:
                return path[path.index(child):] + [child]
            if colour[child] == white:
                colour[child] = grey
                stack.append((child, 0))
                path.append(child)
    return None


def concurrency_gates(caps: Sequence[int], plan: Plan) -> dict[int, int]:
    """Node index -> the nearest capping node above it (`parallel {max_concurrency}`),
    given the indexes of the capping nodes."""
    gates: dict[int, int] = {}
    for gate in caps:
        stack = list(plan.outgoing[gate])
        while stack:
            i = stack.pop()
            if i in gates and plan.position[gates[i]] >= plan.position[gate]:
                continue
            gates[i] = gate
            stack.extend(plan.outgoing[i])
    return gates
