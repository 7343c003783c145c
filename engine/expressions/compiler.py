"""Compiles a syntax tree into Python functions, once per expression.

Why we generate Python source (and why that is safe)
----------------------------------------------------
Speed: evaluating `item % 3 == 0` over 10,000 items must cost about what a list
comprehension costs. A tree of closures pays one Python call per node per item; generated
code runs the common case (integers) with native operators inside a single comprehension.

Safety does not depend on the user's text, because the user's text never becomes code:
- The generated source is assembled only from fixed templates in this module. Identifiers in
  it are our own: the locals `item`, `index`, `items`, `input_`, `acc`, `_s`, `_r` (a
  value being checked against the number rule), `_start` and `_out` (batch windows),
  temporaries
  `_tN`, hoisted helpers `_hN`, and names from the fixed namespace built below (`_add`,
  `_f_<name>` for functions whose name was looked up in our FUNCTIONS table, ...).
- Every value from the expression (numbers, strings, field names) is embedded with `repr()`,
  which always yields a Python literal; the lexer only admits finite numbers.
- The code runs with `__builtins__` set to an empty dict, so even our own templates cannot
  name `open`, `getattr`, `__import__` or anything else we did not put in the namespace.
- Field access is a dict `.get` on a value whose class we just checked is `dict` (or a
  Mapping in the helpers); lists and strings are only touched by our helpers and `.length`.
  Nothing ever reads an attribute named by the user.

Fast paths: an operator whose operands are both `int` runs natively
(`a + b if a.__class__ is _int and b.__class__ is _int else _add(a, b, _s)`); everything else
goes through the helpers in runtime.py, which implement the JavaScript-like semantics.

The number rule (engine/bounds.py: integers within 2**53, beyond that floats) costs a
range check, and a check per native `+` would cost more than the addition. So native
products, and sums with a literal (`input + 1`), are kept within 2**53 by one comparison
on their operand (`product_bounds`, `sum_bounds`); other native sums and differences
(`a + b`), which inside one evaluation can only grow by a bit per operator, are checked
where a value leaves the evaluation: the value of `_evaluate`, each value of `_map`, and a
reduce's accumulator after every window (by then at most a few hundred bits long).
Operands that are not plain names or literals are evaluated once into a temporary
(`_t1 := ...`), so no sub-expression is ever duplicated. To stay within Python's limit of
nested parentheses, sub-trees deeper than HOIST_EVERY levels are hoisted into helper
functions.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from engine.errors import ExpressionSyntaxError

from . import runtime
from .functions import FUNCTIONS, METHODS, Function
from .tree import (
    ArrayLiteral,
    Binary,
    Call,
    Conditional,
    Index,
    Literal,
    Logical,
    Member,
    MethodCall,
    Name,
    Node,
    Root,
    ScopeField,
    Subject,
    Unary,
    walk,
)

HOIST_EVERY = 30
SAFE = runtime.SAFE_INTEGER
#: most items a batch filter/map/reduce runs between two deadline checks (and, for a
#: reduce, checks of its accumulator against the number rule)
BOUND_EVERY = 1024
#: tree nodes evaluated per window of a batch loop (windows shrink as expressions grow)
WINDOW_WORK = 4096
#: tree nodes a batch loop may evaluate in one go, with no window (about a millisecond)
DIRECT_WORK = 100_000
_LOCALS = {"item": "item", "input": "input_", "index": "index", "items": "items",
           "accumulator": "acc"}
_SCOPE_ATTRIBUTES = {"variables": "variables", "context": "context", "node": "nodes"}
_HELPERS = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod",
            "==": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}
# Kinds for which Python's `and`/`or` truthiness is JavaScript's (not arrays or objects).
_PLAIN_TRUTH = frozenset({"boolean", "number", "string", "null"})
_ARGS = "_s, input_, item, index, items, acc"


#: the file name of generated code (visible in tracebacks and audit events)
FILENAME = "<thaiyyal expression>"


def namespace() -> dict[str, Any]:
    """The only names generated code can see."""
    names: dict[str, Any] = {
        "__builtins__": {},
        "_int": int,
        "_dict": dict,
        "_enumerate": enumerate,
        "_range": range,
        "_len": len,
        "_finite": runtime.finite,
        "_deadline": runtime.check_deadline,
        "_NO_ITEM": runtime.NO_ITEM,
        "_add": runtime.add,
        "_sub": runtime.subtract,
        "_mul": runtime.multiply,
        "_div": runtime.divide,
        "_mod": runtime.modulo,
        "_neg": runtime.negate,
        "_pos": runtime.plus,
        "_eq": runtime.equal,
        "_ne": runtime.not_equal,
        "_lt": runtime.less,
        "_le": runtime.less_equal,
        "_gt": runtime.greater,
        "_ge": runtime.greater_equal,
        "_truthy": runtime.truthy,
        "_member": runtime.member,
        "_length": runtime.length,
        "_index": runtime.index,
        "_bare": runtime.bare,
        "_subject": runtime.subject,
        "_scope_get": runtime.scope_get,
        "_array_literal": runtime.check_array,
    }
    for name, function in FUNCTIONS.items():
        names[f"_f_{name}"] = function.impl
    return names


_NAMESPACE = namespace()


@dataclass(frozen=True, slots=True)
class Code:
    """Generated Python for one node: its text, its static kind, and whether the text is a
    plain name or literal that may be repeated without evaluating anything twice."""

    text: str
    kind: str = "any"
    simple: bool = False
    int_literal: bool = False
    #: the value, for literals
    value: Any = None


@dataclass(frozen=True, slots=True)
class Program:
    """The generated pieces of one expression."""

    body: str          # the expression, reading the locals named in _ARGS
    kind: str          # its static kind
    helpers: str       # hoisted helper functions (module-level defs)
    uses_index: bool   # whether the top level reads `index`
    uses_input: bool   # whether the top level reads `input`
    #: whether its value may be an int beyond 2**53 (a native sum): then bounded on exit
    unbounded: bool = False
    #: tree nodes: the cost of one evaluation, roughly
    size: int = 1


#: Thaiyyal binds the current item as `variables.item` (and `variables.index`, `variables.input`)
#: in every per-item evaluation, besides `item` and `index`. Per item (`index` set) they are
#: the item's; otherwise a user variable of that name wins, as in Thaiyyal's Evaluate.
_LOOP_VARIABLES = {
    "item": "(item if index is not None else _s.variables.get('item', item))",
    "index": "(index if index is not None else _s.variables.get('index'))",
    "input": "(input_ if index is not None else _s.variables.get('input', input_))",
}


def _loop_variable(node: Node) -> str | None:
    """`item`, `index` or `input` for `variables.item` & co (literal keys only)."""
    if isinstance(node, ScopeField) and node.scope == "variables" \
            and isinstance(node.key, Literal) and node.key.value in _LOOP_VARIABLES:
        return str(node.key.value)
    return None


def generate(tree: Node) -> Program:
    generator = _Generator()
    code = generator.node(tree, 0)
    roots = {n.name for n in walk(tree) if isinstance(n, Root)}
    # `variables.*` loop names read `index` (to tell per-item from not) and `input`
    roots |= {"index", "input"} if any(_loop_variable(n) for n in walk(tree)) else set()
    return Program(code.text, code.kind, "".join(generator.hoisted), "index" in roots,
                   "input" in roots, generator.unbounded_sum and code.kind in ("number", "any"),
                   len(walk(tree)))


def _bounded(value: str) -> str:
    """`value` (an expression text, evaluated once) under the number rule."""
    return (f"(_r if (_r := {value}).__class__ is not _int or {-SAFE} <= _r <= {SAFE} "
            f"else _finite(_r, 'expression'))")


def evaluate_source(program: Program) -> str:
    """Python source of `_evaluate(scope, input, item, index, items, accumulator)`."""
    body = _bounded(program.body) if program.unbounded else program.body
    return (f"{program.helpers}def _evaluate({_ARGS}):\n"
            f"    if item is _NO_ITEM:\n        item = input_\n"
            f"    else:\n        input_ = item\n"
            f"    return {body}\n")


def batch_source(program: Program) -> str:
    """Python source of the whole-list versions: `_filter(scope, input, items)`, `_map(...)`
    and `_reduce(..., acc)`. Up to DIRECT_WORK tree nodes of evaluation in all, each is a
    single comprehension or loop (about a millisecond: the common case, at full speed);
    beyond that it goes over windows of the items with a deadline check per window.
    (Functions doing work proportional to their arguments check the deadline themselves,
    see runtime.work; the windows bound what is left, the evaluation of the tree.)"""
    condition = program.body if program.kind == "boolean" else f"_truthy({program.body})"
    cost = max(1, program.size)
    direct = max(1, DIRECT_WORK // cost)
    size = max(1, min(BOUND_EVERY, WINDOW_WORK // cost))
    # Per item, `input` is the item, as in Thaiyyal; the whole list is `items`.
    setup = "" if program.uses_index else "    index = None\n"
    value = _bounded(program.body) if program.unbounded else program.body

    def loop(window: str | None) -> str:
        source = "items" if window is None else window
        start = "" if window is None else ", _start"
        return (f"for index, item in _enumerate({source}{start})" if program.uses_index
                else f"for item in {source}")

    def each(window: str | None) -> str:
        text = loop(window)
        return f"{text} for input_ in (item,)" if program.uses_input else text

    window = f"items[_start:_start + {size}]"
    rebind = "input_ = item\n" if program.uses_input else ""
    windows = f"    for _start in _range(0, _len(items), {size}):\n        _deadline(_s)\n"
    short = f"    if _len(items) <= {direct}:\n"
    # a reduce's accumulator is checked against the number rule after every window
    bound_acc = f"acc = {_bounded('acc')}\n" if program.unbounded else ""
    return (
        f"{program.helpers}"
        f"def _filter(_s, input_, items):\n{setup}    acc = None\n"
        f"{short}        return [item {each(None)} if {condition}]\n"
        f"    _out = []\n{windows}"
        f"        _out += [item {each(window)} if {condition}]\n    return _out\n"
        f"def _map(_s, input_, items):\n{setup}    acc = None\n"
        f"{short}        return [{value} {each(None)}]\n"
        f"    _out = []\n{windows}"
        f"        _out += [{value} {each(window)}]\n    return _out\n"
        f"def _reduce(_s, input_, items, acc):\n{setup}"
        f"{short}        {loop(None)}:\n"
        f"{'            ' + rebind if rebind else ''}            acc = {program.body}\n"
        f"{'        ' + bound_acc if bound_acc else ''}        return acc\n"
        f"{windows}"
        f"        {loop(window)}:\n"
        f"{'            ' + rebind if rebind else ''}            acc = {program.body}\n"
        f"{'        ' + bound_acc if bound_acc else ''}"
        f"    return acc\n"
    )


def build_evaluate(program: Program) -> Any:
    return _load(evaluate_source(program))["_evaluate"]


def build_batch(program: Program) -> dict[str, Any]:
    names = _load(batch_source(program))
    return {"filter": names["_filter"], "map": names["_map"], "reduce": names["_reduce"]}


def _load(source: str) -> dict[str, Any]:
    names = dict(_NAMESPACE)
    # Our generated source only (see the module docstring); never the user's text.
    exec(compile(source, FILENAME, "exec"), names)
    return names


class _Generator:
    def __init__(self) -> None:
        self.temps = 0
        self.hoisted: list[str] = []
        #: a native int `+`/`-` was generated: values leaving the evaluation are checked
        self.unbounded_sum = False

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def node(self, node: Node, depth: int) -> Code:
        if depth and depth % HOIST_EVERY == 0 and not isinstance(node, Literal | Root):
            return self.hoist(node, depth)
        method = getattr(self, f"gen_{type(node).__name__}")
        return method(node, depth + 1)

    def hoist(self, node: Node, depth: int) -> Code:
        """Move a deep sub-tree into its own function to reset the parenthesis nesting."""
        inner = getattr(self, f"gen_{type(node).__name__}")(node, depth + 1)
        name = f"_h{len(self.hoisted) + 1}"
        self.hoisted.append(f"def {name}({_ARGS}):\n    return {inner.text}\n")
        return Code(f"{name}({_ARGS})", inner.kind)

    def operand(self, code: Code) -> tuple[str, str]:
        """(text for the first use, text for later uses) of an operand."""
        if code.simple:
            return code.text, code.text
        name = self.temp()
        return f"({name} := {code.text})", name

    # -- leaves --------------------------------------------------------------------------
    def gen_Literal(self, node: Literal, depth: int) -> Code:
        value = node.value
        if value is None:
            return Code("None", "null", simple=True)
        if value.__class__ is bool:
            return Code(repr(value), "boolean", simple=True, value=value)
        if value.__class__ is int:
            return Code(repr(value), "number", simple=True, int_literal=True, value=value)
        if value.__class__ is float:
            return Code(repr(value), "number", simple=True, value=value)
        return Code(repr(value), "string", simple=True, value=value)

    def gen_ArrayLiteral(self, node: ArrayLiteral, depth: int) -> Code:
        if not node.items:
            return Code("[]", "array")
        items = ", ".join(self.node(item, depth).text for item in node.items)
        return Code(f"_array_literal(_s, [{items}])", "array")

    def gen_Root(self, node: Root, depth: int) -> Code:
        return Code(_LOCALS[node.name], simple=True)

    def gen_Subject(self, node: Subject, depth: int) -> Code:
        return Code("_subject(item)")

    def gen_Name(self, node: Name, depth: int) -> Code:
        key = repr(node.name)
        return Code(f"(item[{key}] if item.__class__ is _dict and {key} in item "
                    f"else _bare(item, {key}))")

    def gen_ScopeField(self, node: ScopeField, depth: int) -> Code:
        mapping = f"_s.{_SCOPE_ATTRIBUTES[node.scope]}"
        loop_name = _loop_variable(node)
        if loop_name is not None:
            return Code(_LOOP_VARIABLES[loop_name])
        if isinstance(node.key, Literal) and node.key.value.__class__ is str:
            return Code(f"{mapping}.get({node.key.value!r})")
        return Code(f"_scope_get({mapping}, {self.node(node.key, depth).text})")

    # -- access --------------------------------------------------------------------------
    def gen_Member(self, node: Member, depth: int) -> Code:
        obj = self.node(node.obj, depth)
        if node.name == "length":
            return Code(f"_length({obj.text})")
        if _is_literal(obj):
            return Code(f"_member({obj.text}, {node.name!r})")
        first, ref = self.operand(obj)
        key = repr(node.name)
        return Code(f"({ref}.get({key}) if {first}.__class__ is _dict "
                    f"else _member({ref}, {key}))")

    def gen_Index(self, node: Index, depth: int) -> Code:
        obj = self.node(node.obj, depth)
        key = self.node(node.key, depth)
        return Code(f"_index({obj.text}, {key.text})")

    def gen_Call(self, node: Call, depth: int) -> Code:
        function = FUNCTIONS.get(node.name)
        if function is None:
            raise ExpressionSyntaxError(_unknown("function", node.name, FUNCTIONS), node.column)
        _check_arity(function, len(node.args), node.column, node.name)
        args = []
        for position, arg in enumerate(node.args):
            if position == function.lazy:
                inner = self.node(arg, depth).text
                args.append(f"lambda item, index, items: {inner}")
            else:
                args.append(self.node(arg, depth).text)
        return Code(f"_f_{function.name}({', '.join(['_s', *args])})", function.returns)

    def gen_MethodCall(self, node: MethodCall, depth: int) -> Code:
        receiver = self.node(node.obj, depth).text  # first, so errors read left to right
        function = METHODS.get(node.name)
        if function is None:
            if node.name in FUNCTIONS:
                reason = (f"'{node.name}' is a function, not a method: "
                          f"write {node.name}(value, ...)")
            else:
                reason = _unknown("method", node.name, METHODS)
            raise ExpressionSyntaxError(reason, node.column)
        _check_arity(function, len(node.args) + 1, node.column, f".{node.name}", receiver=True)
        args = [receiver, *(self.node(a, depth).text for a in node.args)]
        return Code(f"_f_{function.name}({', '.join(['_s', *args])})", function.returns)

    # -- operators -----------------------------------------------------------------------
    def gen_Unary(self, node: Unary, depth: int) -> Code:
        operand = self.node(node.operand, depth)
        if node.op == "!":
            if operand.kind == "boolean":
                return Code(f"(not {operand.text})", "boolean")
            return Code(f"(not _truthy({operand.text}))", "boolean")
        if node.op == "+":
            return Code(f"_pos({operand.text})", "number")
        if _is_literal(operand):
            return Code(f"_neg({operand.text})", "number")
        first, ref = self.operand(operand)
        return Code(f"(-{ref} if {first}.__class__ is _int else _neg({ref}))", "number")

    def gen_Binary(self, node: Binary, depth: int) -> Code:
        left = self.node(node.left, depth)
        right = self.node(node.right, depth)
        if node.op in ("==", "!="):
            return self.equality(node.op, left, right)
        if node.op in ("<", "<=", ">", ">="):
            return self.ordering(node.op, left, right)
        return self.arithmetic(node.op, left, right)

    def arithmetic(self, op: str, left: Code, right: Code) -> Code:
        kind = "number"
        if op == "+":
            if left.kind == "string" or right.kind == "string":
                kind = "string"
            elif left.kind != "number" or right.kind != "number":
                kind = "any"
        helper = _HELPERS[op]
        extra = ", _s" if op == "+" else ""
        if op == "/" or (left.int_literal and right.int_literal) or not (
                _may_be_int(left) and _may_be_int(right)):
            return Code(f"{helper}({left.text}, {right.text}{extra})", kind)
        if op == "%":
            if not (right.int_literal and right.value > 0):
                return Code(f"{helper}({left.text}, {right.text})", kind)
            first, ref = self.operand(left)
            return Code(f"({ref} % {right.text} if {first}.__class__ is _int and {ref} >= 0 "
                        f"else _mod({ref}, {right.text}))", kind)
        (l_first, l_ref), (r_first, r_ref) = self.operand(left), self.operand(right)
        guards = []
        if not left.int_literal:
            guards.append(f"{l_first}.__class__ is _int")
        if not right.int_literal:
            guards.append(f"{r_first}.__class__ is _int")
        guard = _all_evaluated(guards, left, right)
        if op == "*":
            guard += self.product_bounds(left, right, l_ref, r_ref)
        elif left.int_literal or right.int_literal:
            guard += self.sum_bounds(op, left, right, l_ref, r_ref)
        else:
            self.unbounded_sum = True
        return Code(f"({l_ref} {op} {r_ref} if {guard} else {helper}({l_ref}, {r_ref}{extra}))",
                    kind)

    @staticmethod
    def sum_bounds(op: str, left: Code, right: Code, l_ref: str, r_ref: str) -> str:
        """Keep `x + c`, `x - c` and `c - x` (c a literal) within 2**53 with one comparison
        on x, which is itself within 2**53 (every value an evaluation reads or makes with
        these guards is)."""
        if right.int_literal:
            c = right.value if op == "+" else -right.value  # x + c
            return f" and {l_ref} <= {SAFE - c}" if c >= 0 else f" and {l_ref} >= {-SAFE - c}"
        c = left.value
        if op == "+":  # c + x
            return f" and {r_ref} <= {SAFE - c}" if c >= 0 else f" and {r_ref} >= {-SAFE - c}"
        return f" and {r_ref} >= {c - SAFE}" if c >= 0 else f" and {r_ref} <= {c + SAFE}"

    @staticmethod
    def product_bounds(left: Code, right: Code, l_ref: str, r_ref: str) -> str:
        """Keep native int products within 2**53, so `*` can never build a huge integer."""
        if right.int_literal:
            bound = SAFE // max(1, abs(right.value))
            return f" and {-bound} <= {l_ref} <= {bound}"
        if left.int_literal:
            bound = SAFE // max(1, abs(left.value))
            return f" and {-bound} <= {r_ref} <= {bound}"
        bound = 2**26
        return f" and {-bound} <= {l_ref} <= {bound} and {-bound} <= {r_ref} <= {bound}"

    def equality(self, op: str, left: Code, right: Code) -> Code:
        if left.kind == "number" and right.kind == "number":
            return Code(f"({left.text} {op} {right.text})", "boolean")
        for value, literal in ((left, right), (right, left)):
            if not _is_literal(literal) or _is_literal(value):
                continue
            negate = op == "!="
            if literal.kind == "null":
                return Code(f"({value.text} is {'not ' if negate else ''}None)", "boolean")
            if literal.kind == "boolean":
                return Code(f"({value.text} is {'not ' if negate else ''}{literal.text})",
                            "boolean")
            if literal.kind == "string" and runtime.numeric_string(literal.value) is None:
                # Only a string equals a non-numeric string, so Python's == is exact here.
                return Code(f"({value.text} {op} {literal.text})", "boolean")
        return self.compare_fast(op, left, right)

    def ordering(self, op: str, left: Code, right: Code) -> Code:
        if left.kind == "number" and right.kind == "number":
            return Code(f"({left.text} {op} {right.text})", "boolean")
        return self.compare_fast(op, left, right)

    def compare_fast(self, op: str, left: Code, right: Code) -> Code:
        """Native comparison when the other side of an int literal is an int at run time."""
        helper = _HELPERS[op]
        other = right if left.int_literal else left
        if left.int_literal != right.int_literal and not _is_literal(other):
            first, ref = self.operand(other)
            pair = (left.text, ref) if left.int_literal else (ref, right.text)
            return Code(f"({pair[0]} {op} {pair[1]} if {first}.__class__ is _int "
                        f"else {helper}({pair[0]}, {pair[1]}))", "boolean")
        return Code(f"{helper}({left.text}, {right.text})", "boolean")

    def gen_Logical(self, node: Logical, depth: int) -> Code:
        left = self.node(node.left, depth)
        right = self.node(node.right, depth)
        kind = left.kind if left.kind == right.kind else "any"
        if left.kind in _PLAIN_TRUTH:
            word = "and" if node.op == "&&" else "or"
            return Code(f"({left.text} {word} {right.text})", kind)
        first, ref = self.operand(left)
        if node.op == "&&":
            return Code(f"({right.text} if _truthy({first}) else {ref})", kind)
        return Code(f"({ref} if _truthy({first}) else {right.text})", kind)

    def gen_Conditional(self, node: Conditional, depth: int) -> Code:
        test = self.node(node.test, depth)
        then = self.node(node.then, depth)
        otherwise = self.node(node.otherwise, depth)
        condition = test.text if test.kind == "boolean" else f"_truthy({test.text})"
        kind = then.kind if then.kind == otherwise.kind else "any"
        return Code(f"({then.text} if {condition} else {otherwise.text})", kind)


def _is_literal(code: Code) -> bool:
    return code.simple and code.kind != "any"


def _may_be_int(code: Code) -> bool:
    """Whether an int fast path can apply: an int literal or a value of unknown type."""
    return code.int_literal or (code.kind in ("number", "any") and not code.simple) or (
        code.simple and code.kind == "any")


def _all_evaluated(guards: list[str], left: Code, right: Code) -> str:
    """Join type guards. With `and`, a failing first guard would skip the assignment of the
    second operand's temporary, which the fallback still reads, so then use `&`."""
    if len(guards) == 2 and not (left.simple and right.simple):
        return "(" + ") & (".join(guards) + ")"
    return " and ".join(guards)


def _check_arity(function: Function, count: int, column: int, shown: str,
                 receiver: bool = False) -> None:
    low, high = function.min_args, function.max_args
    if low <= count and (high is None or count <= high):
        return
    if receiver:
        low, high = low - 1, None if high is None else high - 1
        expected = Function(function.name, function.impl, low, high).arity_text()
    else:
        expected = function.arity_text()
    given = count - 1 if receiver else count
    raise ExpressionSyntaxError(f"{shown}() takes {expected}, got {given}", column)


def _unknown(what: str, name: str, table: dict[str, Function]) -> str:
    close = difflib.get_close_matches(name, list(table), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown {what} '{name}'{hint}"
