"""The API's one parser: JSON, where every malformed body is a 400, deep nesting included
(Python's decoder raises RecursionError for it, which DRF would let through as a 500),
and so are lone UTF-16 surrogates (`"\\ud800"`): Python's decoder accepts them, but they
cannot be encoded as UTF-8, so the response or the database would fail on them."""

from __future__ import annotations

import io
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONBodyParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        # Surrogates can only arrive as \u escapes: look further only when one is there.
        if b"\\ud" in raw or b"\\uD" in raw:
            path = lone_surrogate_path(data)
            if path is not None:
                raise ParseError(f"JSON parse error - {path}: lone UTF-16 surrogate (a \\u "
                                 f"escape between \\ud800 and \\udfff not part of a pair)")
        return data


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
