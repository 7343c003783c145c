"""Recursive-descent parser: tokens -> syntax tree (engine.expressions.tree).

Precedence, lowest first (as in JavaScript): `c ? a : b`, `||`, `&&`, `== !=`,
`< <= > >=`, `+ -`, `* / %`, unary `! - +`, then `.name`, `[key]` and calls.

An expression that starts with a comparison operator (`>= 18`, `== "x"`) compares the
implicit subject: the item (or the input), unwrapping its `value` field when it has one.

Bounds: nesting (parentheses, unary operators, calls) and the depth of the tree (which
also grows with chained operators such as `1+1+...+1`) are both limited to MAX_DEPTH, so
neither this parser nor the compiler can run out of stack.
"""

from __future__ import annotations

from engine.errors import ExpressionSyntaxError

from .lexer import Token, tokenize
from .tree import (
    ROOTS,
    SCOPES,
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
    deepest,
)

MAX_DEPTH = 100

_BINARY = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4,
           "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_CONSTANTS = {"true": True, "false": False, "null": None, "undefined": None}
# JavaScript keywords have no meaning here; naming them gives a clear error instead of an
# "unknown name" at run time (`this`, `new Function(...)`, `typeof x`, `import(...)`...).
_KEYWORDS = frozenset("""
    await break case catch class const continue debugger default delete do else enum export
    extends finally for function if implements import in instanceof interface let new package
    private protected public return static super switch this throw try typeof var void while
    with yield
""".split())


def parse(text: str) -> Node:
    """Parse `text` into a tree. Raises ExpressionSyntaxError(reason, column)."""
    parser = _Parser(tokenize(text))
    tree = parser.parse()
    depth, node = deepest(tree)
    if depth > MAX_DEPTH:
        raise ExpressionSyntaxError(
            f"expression is nested too deeply ({depth} levels, limit {MAX_DEPTH}; "
            "long chains of operators count too)", node.column)
    return tree


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.nesting = 0

    # -- token helpers -------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at_op(self, *ops: str) -> bool:
        token = self.tokens[self.pos]
        return token.kind == "op" and token.value in ops

    def expect_op(self, op: str, context: str) -> Token:
        if not self.at_op(op):
            raise self.error(f"expected '{op}' {context}")
        return self.advance()

    def error(self, reason: str, token: Token | None = None) -> ExpressionSyntaxError:
        token = token or self.token
        if token.kind == "end" and "end of expression" not in reason:
            reason = f"{reason}, found the end of the expression"
        elif token.kind != "end" and reason.startswith("expected"):
            reason = f"{reason}, found {_describe(token)}"
        return ExpressionSyntaxError(reason, token.column)

    def enter(self, token: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExpressionSyntaxError(
                f"expression is nested too deeply (limit {MAX_DEPTH})", token.column)

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionSyntaxError("empty expression", 1)
        if self.at_op(*_COMPARISONS):
            # The `>= 18` shorthand: the subject is the implicit left operand.
            first = self.token
            tree = self.conditional(Subject(first.column))
        else:
            tree = self.conditional()
        if self.token.kind != "end":
            raise self.error(f"unexpected {_describe(self.token)}")
        return tree

    def conditional(self, subject: Node | None = None) -> Node:
        start = self.token
        self.enter(start)
        test = self.binary(0, subject)
        if self.at_op("?"):
            question = self.advance()
            then = self.conditional()
            self.expect_op(":", "in 'condition ? a : b'")
            otherwise = self.conditional()
            test = Conditional(test, then, otherwise, question.column)
        self.nesting -= 1
        return test

    def binary(self, min_prec: int, left: Node | None = None) -> Node:
        if left is None:
            left = self.unary()
        while True:
            token = self.token
            prec = _BINARY.get(token.value) if token.kind == "op" else None  # type: ignore[call-overload]
            if prec is None or prec <= min_prec:
                return left
            self.advance()
            op = str(token.value)
            if op in ("&&", "||") and self.at_op(*_COMPARISONS):
                # `>100 && <200`: each side of && / || may be a shorthand (as in Thaiyyal)
                right = self.binary(prec, Subject(self.token.column))
            else:
                right = self.binary(prec)
            if op in ("&&", "||"):
                left = Logical(op, left, right, token.column)
            else:
                left = Binary(op, left, right, token.column)

    def unary(self) -> Node:
        token = self.token
        if token.kind == "op" and token.value in ("!", "-", "+"):
            self.advance()
            self.enter(token)
            operand = self.unary()
            self.nesting -= 1
            if token.value == "-" and isinstance(operand, Literal) and _is_number(operand.value):
                return Literal(-operand.value, token.column)
            return Unary(str(token.value), operand, token.column)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.token
            if token.kind != "op":
                return node
            if token.value == ".":
                node = self.member(node)
            elif token.value == "[":
                self.advance()
                key = self.conditional()
                self.expect_op("]", "to close '['")
                node = Index(node, key, token.column)
            elif token.value == "(":
                raise self.error("only named functions can be called, e.g. sum(items)", token)
            else:
                return node

    def member(self, node: Node) -> Node:
        self.advance()  # the dot
        name_token = self.token
        if name_token.kind != "name":
            raise self.error("expected a field name after '.'")
        self.advance()
        name = str(name_token.value)
        _check_name(name, name_token)
        if self.at_op("("):
            args = self.arguments()
            return MethodCall(node, name, args, name_token.column)
        return Member(node, name, name_token.column)

    def arguments(self) -> tuple[Node, ...]:
        self.advance()
        args: list[Node] = []
        if not self.at_op(")"):
            while True:
                args.append(self.conditional())
                if not self.at_op(","):
                    break
                self.advance()
        self.expect_op(")", "to close the argument list")
        return tuple(args)

    def primary(self) -> Node:
        token = self.advance()
        if token.kind == "number" or token.kind == "string":
            return Literal(token.value, token.column)
        if token.kind == "name":
            return self.named(token)
        if token.kind == "op" and token.value == "(":
            inner = self.conditional()
            self.expect_op(")", "to close '('")
            return inner
        if token.kind == "op" and token.value == "[":
            return self.array(token)
        if token.kind == "end":
            raise self.error("expected a value", token)
        raise self.error(f"unexpected {_describe(token)}", token)

    def array(self, opening: Token) -> Node:
        items: list[Node] = []
        if not self.at_op("]"):
            while True:
                items.append(self.conditional())
                if not self.at_op(","):
                    break
                self.advance()
        self.expect_op("]", "to close the array")
        return ArrayLiteral(tuple(items), opening.column)

    def named(self, token: Token) -> Node:
        name = str(token.value)
        if name in _CONSTANTS:
            return Literal(_CONSTANTS[name], token.column)
        _check_name(name, token)
        if name in _KEYWORDS:
            raise ExpressionSyntaxError(
                f"'{name}' is a JavaScript keyword; expressions do not support it", token.column)
        if self.at_op("("):
            if name in ROOTS or name in SCOPES:
                raise self.error(f"'{name}' is not a function", self.token)
            return Call(name, self.arguments(), token.column)
        if name in ROOTS:
            return Root(name, token.column)
        if name in SCOPES:
            return self.scope_field(name, token)
        return Name(name, token.column)

    def scope_field(self, scope: str, token: Token) -> Node:
        hint = f"'{scope}' must be followed by .name or [key]"
        if self.at_op("."):
            self.advance()
            key_token = self.token
            if key_token.kind != "name":
                raise self.error(hint, key_token)
            self.advance()
            _check_name(str(key_token.value), key_token)
            return ScopeField(scope, Literal(key_token.value, key_token.column), token.column)
        if self.at_op("["):
            self.advance()
            key = self.conditional()
            self.expect_op("]", "to close '['")
            return ScopeField(scope, key, token.column)
        raise self.error(hint, self.token)


def _check_name(name: str, token: Token) -> None:
    if name.startswith("__"):
        raise ExpressionSyntaxError(
            f"names starting with '__' are not allowed ('{name}'); "
            "read such a field with item[\"...\"]", token.column)


def _is_number(value: object) -> bool:
    return value.__class__ is int or value.__class__ is float


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "end of expression"
    if token.kind == "string":
        return "string"
    if token.kind == "number":
        return f"number {token.value}"
    if token.kind == "name":
        return f"name '{token.value}'"
    return f"'{token.value}'"
