"""Content negotiation with a short cut for what nearly every client sends.

DRF's negotiation parses the Accept header into media types and matches every renderer
against them on every request. A request that sends no Accept, `*/*` or exactly the first
renderer's media type always gets the first renderer, with its own media type: that case
is answered without the parsing. Anything else (several types, parameters, `?format=`)
goes through DRF's negotiation unchanged, 406 included.
"""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request

_ANY = ("", "*/*")


class FirstRendererNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request: Request, renderers: list[Any],
                        format_suffix: str | None = None) -> tuple[Any, str]:
        meta = request.META
        accept = meta.get("HTTP_ACCEPT", "")
        first = renderers[0] if renderers else None
        if (first is not None and not format_suffix
                and (accept in _ANY or accept == first.media_type)
                and "format=" not in meta.get("QUERY_STRING", "")):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
