"""The API's one parser: JSON, where every malformed body is a 400 naming where it is:
deep nesting (Python's decoder raises RecursionError for it, which DRF would let through
as a 500); lone UTF-16 surrogates (`"\\ud800"`: Python's decoder accepts them, but they
cannot be encoded as UTF-8, so the response or the database would fail on them); and
numbers too large for a double (`1e400`: Python reads them as infinity, which JSON
cannot carry back, so a run would see `inf` and answer the string "inf")."""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils.json import strict_constant

#: a number overflows a double only past 1.8e308: with an exponent of 3+ digits, or with
#: 200+ digits before its point (an exponent of at most 99 then cannot get it there)
_MAY_OVERFLOW = re.compile(rb"[eE]\+?[0-9]{3}|[0-9]{200}")


class BodyParseError(ParseError):
    """A body that is JSON text but not a value we can take, with where the problem is."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"JSON parse error - {path}: {message}")
        self.path = path
        self.problem = message


class JSONBodyParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            data = json.loads(codecs.decode(raw, get_encoding(parser_context or {})),
                              parse_constant=strict_constant)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        # Look for a number that overflowed only when the text may hold one (a regex over
        # the bytes rather than a Python call per number).
        if _MAY_OVERFLOW.search(raw):
            path = non_finite_path(data)
            if path is not None:
                raise BodyParseError(path, "number out of range (larger than a double, "
                                           "about 1.8e308)")
        # Surrogates can only arrive as \u escapes: look further only when one is there.
        if b"\\ud" in raw or b"\\uD" in raw:
            where = lone_surrogate_path(data)
            if where is not None:
                raise BodyParseError(where, "lone UTF-16 surrogate (a \\u escape between "
                                           "\\ud800 and \\udfff not part of a pair)")
        return data


def non_finite_path(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first number that is not finite."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    items: Any = ()
    if isinstance(value, dict):
        items = ((f"{path}.{key}", item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", item) for i, item in enumerate(value))
    for sub, item in items:
        found = non_finite_path(item, sub)
        if found:
            return found
    return None


def lone_surrogate_path(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first string (value or key) that is not valid Unicode text."""
    if isinstance(value, str):
        return None if _encodable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            if not _encodable(key):
                return path  # the key itself: point at its object
            found = lone_surrogate_path(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = lone_surrogate_path(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
