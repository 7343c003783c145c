"""Turns expression text into tokens. Columns are 1-based, counted in characters.

Token kinds: "number", "string", "name", "op", "end".

Node ids: Thaiyyal ids often contain `-` (`http-1`). Right after `node.` (when `node` is the
root, not a field such as `item.node`), the lexer reads the id as one name made of letters,
digits and `_`, with single `-` between them: `node.http-1.body` is the result of node
`http-1`. To subtract from a node result, put spaces around the minus (`node.a - 1`); an id
with other characters is written `node["odd id"]`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from engine.errors import ExpressionSyntaxError

MAX_LENGTH = 10_000

_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NODE_ID = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")
_NUMBER = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
# One pass per token. A number may start with a dot (`.5`); after a value a dot followed by
# a digit still lexes as a number, which the parser then rejects (`a.5` is not valid JS).
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d|\.\d)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<quote>["'])
  | (?P<op>===|!==|==|!=|<=|>=|&&|\|\||[<>+\-*/%!?:.,()\[\]])
""", re.VERBOSE)
# Longest first, so `===` wins over `==` and `<=` over `<`.
_OPERATORS = ("===", "!==", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/",
              "%", "!", "?", ":", ".", ",", "(", ")", "[", "]")
_ALIASES = {"===": "==", "!==": "!="}
# Operators from other languages, with the hint a user needs.
_MISTAKES = {
    "**": "'**' is not supported: use pow(a, b)",
    "??": "'??' is not supported: use coalesce(a, b)",
    "?.": "'?.' is not supported: a missing field already reads as null",
    "=>": "arrow functions are not supported: map(items, expr) sees each element as item",
    "&": "'&' is not supported: use && for 'and'",
    "|": "'|' is not supported: use || for 'or'",
    "=": "'=' is not supported: use == to compare",
    "`": "template strings are not supported: join strings with +",
    "{": "object literals are not supported",
    "}": "object literals are not supported",
}
# Operators that may be the start of a mistake such as `**` or `?.`: take the slow path.
_MISTAKE_STARTS = frozenset({"*", "?"})
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


class Token(NamedTuple):
    """One token. A NamedTuple rather than a frozen dataclass: lexing is on the load path
    and tuples are several times cheaper to create."""

    kind: str
    value: object
    column: int


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens ending with an "end" token; ExpressionSyntaxError if it can't."""
    if not isinstance(text, str):
        raise ExpressionSyntaxError("an expression must be a string", 1)
    if len(text) > MAX_LENGTH:
        raise ExpressionSyntaxError(
            f"expression is too long ({len(text)} characters, limit {MAX_LENGTH})", MAX_LENGTH + 1)
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    end = len(text)
    while pos < end:
        if tokens and tokens[-1].value == "." and _after_node_root(tokens):
            match = _NODE_ID.match(text, pos)
            if match:
                append(Token("name", match.group(), pos + 1))
                pos = match.end()
                continue
        match = _TOKEN.match(text, pos)
        kind = match.lastgroup if match is not None else None
        if match is None or kind == "op" and match.group() in _MISTAKE_STARTS:
            pos = _read_operator(text, pos, tokens)
        elif kind == "space":
            pos = match.end()
        elif kind == "name":
            append(Token("name", match.group(), pos + 1))
            pos = match.end()
        elif kind == "op":
            op = match.group()
            append(Token("op", _ALIASES.get(op, op), pos + 1))
            pos = match.end()
        elif kind == "number":
            pos = _read_number(text, pos, tokens)
        else:
            pos = _read_string(text, pos, tokens)
    tokens.append(Token("end", None, end + 1))
    return tokens


def _after_node_root(tokens: list[Token]) -> bool:
    """True right after `node.` where `node` is the scope root, not a field named node."""
    if len(tokens) < 2:
        return False
    dot, node = tokens[-1], tokens[-2]
    if dot.value != "." or dot.kind != "op" or node.kind != "name" or node.value != "node":
        return False
    return len(tokens) < 3 or tokens[-3].value != "." or tokens[-3].kind != "op"


def _read_number(text: str, pos: int, tokens: list[Token]) -> int:
    match = _NUMBER.match(text, pos)
    if match is None or (match.end() < len(text) and (text[match.end()].isalnum()
                                                       or text[match.end()] in "_$")):
        raise ExpressionSyntaxError("invalid number", pos + 1)
    raw = match.group()
    value: int | float
    if raw.isdigit() and len(raw) <= 15:
        value = int(raw)
    else:
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise ExpressionSyntaxError(f"number {raw[:20]} is out of range", pos + 1)
        if value.is_integer() and abs(value) < 2**53:
            value = int(value)
    tokens.append(Token("number", value, pos + 1))
    return match.end()


def _read_string(text: str, pos: int, tokens: list[Token]) -> int:
    quote = text[pos]
    out: list[str] = []
    index = pos + 1
    end = len(text)
    while index < end:
        char = text[index]
        if char == quote:
            tokens.append(Token("string", "".join(out), pos + 1))
            return index + 1
        if char != "\\":
            out.append(char)
            index += 1
            continue
        if index + 1 >= end:
            break
        index = _read_escape(text, index, out)
    raise ExpressionSyntaxError("unterminated string", pos + 1)


def _read_escape(text: str, index: int, out: list[str]) -> int:
    """Decode the escape at text[index] == '\\'; returns the index after it."""
    kind = text[index + 1]
    if kind in _ESCAPES:
        out.append(_ESCAPES[kind])
        return index + 2
    if kind == "x":
        return _read_hex(text, index, index + 2, 2, out)
    if kind == "u":
        if text.startswith("{", index + 2):
            close = text.find("}", index + 3, index + 10)
            if close == -1:
                raise ExpressionSyntaxError("invalid \\u{...} escape", index + 1)
            return _read_hex(text, index, index + 3, close - index - 3, out) + 1
        return _read_hex(text, index, index + 2, 4, out)
    # Like JavaScript: any other escaped character stands for itself (\" \' \\ \/ ...).
    out.append(kind)
    return index + 2


def _read_hex(text: str, escape_at: int, start: int, count: int, out: list[str]) -> int:
    digits = text[start:start + count]
    if count < 1 or len(digits) != count or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ExpressionSyntaxError("invalid escape sequence", escape_at + 1)
    code = int(digits, 16)
    if code > 0x10FFFF:
        raise ExpressionSyntaxError("invalid escape sequence", escape_at + 1)
    out.append(chr(code))
    return start + count


def _read_operator(text: str, pos: int, tokens: list[Token]) -> int:
    for mistake, hint in _MISTAKES.items():
        if text.startswith(mistake, pos) and not _is_longer_operator(text, pos, mistake):
            if mistake == "?." and text[pos + 2:pos + 3].isdigit():
                continue  # `c ?.5 : 1` is a ternary with the number .5
            raise ExpressionSyntaxError(hint, pos + 1)
    for op in _OPERATORS:
        if text.startswith(op, pos):
            tokens.append(Token("op", _ALIASES.get(op, op), pos + 1))
            return pos + len(op)
    char = text[pos]
    shown = char if char.isprintable() else f"U+{ord(char):04X}"
    raise ExpressionSyntaxError(f"unexpected character {shown!r}", pos + 1)


def _is_longer_operator(text: str, pos: int, mistake: str) -> bool:
    """`==`, `&&`, `||`, `!=` etc. start like a mistake (`=`, `&`, `|`) but are fine."""
    return any(len(op) > len(mistake) and text.startswith(op, pos) for op in _OPERATORS)
