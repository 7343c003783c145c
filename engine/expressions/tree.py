"""The expression syntax tree: small frozen dataclasses the parser builds and the compiler reads.

Every node carries `column`, the 1-based position of the token that introduced it, so the
compiler can report unknown functions or wrong arity at the right place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the names that are not looked up on the item: loop and input values
ROOTS = frozenset({"item", "input", "index", "items", "accumulator"})
#: run-wide mappings, only readable through `.name` or `[key]`
SCOPES = frozenset({"variables", "context", "node"})


@dataclass(frozen=True, slots=True)
class Literal:
    """A number, string, boolean or null written in the expression."""

    value: Any
    column: int


@dataclass(frozen=True, slots=True)
class ArrayLiteral:
    items: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Root:
    """`item`, `input`, `index`, `items` or `accumulator`."""

    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Subject:
    """The implicit left side of the `>= 18` shorthand: the item (or input), unwrapping `value`."""

    column: int


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name such as `age`: a field of the item when there is one, else of the input."""

    name: str
    column: int


@dataclass(frozen=True, slots=True)
class ScopeField:
    """`variables.x`, `context.x`, `node.<id>` (or the `[key]` forms)."""

    scope: str
    key: Node
    column: int


@dataclass(frozen=True, slots=True)
class Member:
    """`obj.name`; `.length` is one of these too."""

    obj: Node
    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Index:
    """`obj[key]`."""

    obj: Node
    key: Node
    column: int


@dataclass(frozen=True, slots=True)
class Call:
    """`name(args)`: a function from the library."""

    name: str
    args: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class MethodCall:
    """`obj.name(args)`: a whitelisted string or array method."""

    obj: Node
    name: str
    args: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Unary:
    """`!x`, `-x` or `+x`."""

    op: str
    operand: Node
    column: int


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic and comparison: `+ - * / % == != < <= > >=`."""

    op: str
    left: Node
    right: Node
    column: int


@dataclass(frozen=True, slots=True)
class Logical:
    """`&&` and `||`, which short-circuit and return an operand like JavaScript."""

    op: str
    left: Node
    right: Node
    column: int


@dataclass(frozen=True, slots=True)
class Conditional:
    """`test ? then : otherwise`."""

    test: Node
    then: Node
    otherwise: Node
    column: int


Node = (Literal | ArrayLiteral | Root | Subject | Name | ScopeField | Member | Index | Call
        | MethodCall | Unary | Binary | Logical | Conditional)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of `node`, in evaluation order."""
    if isinstance(node, ArrayLiteral):
        return node.items
    if isinstance(node, ScopeField):
        return (node.key,)
    if isinstance(node, Member):
        return (node.obj,)
    if isinstance(node, Index):
        return (node.obj, node.key)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, MethodCall):
        return (node.obj, *node.args)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary | Logical):
        return (node.left, node.right)
    if isinstance(node, Conditional):
        return (node.test, node.then, node.otherwise)
    return ()


def deepest(node: Node) -> tuple[int, Node]:
    """(depth of the tree, the deepest node). Iterative: chains like `1+1+...+1` are deep."""
    best = (1, node)
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > best[0]:
            best = (depth, current)
        stack.extend((child, depth + 1) for child in children(current))
    return best


def walk(node: Node) -> list[Node]:
    """Every node of the tree (iteratively, parents before children)."""
    out = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children(current))
    return out
