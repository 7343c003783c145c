"""JSON rendering that never fails on a run's values.

Strict JSON has no NaN or infinities, and a node may produce them (1e308 * 10). The fast
path renders as usual; only when that fails is the data converted and rendered again.
"""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer

from workflows.recording import json_safe


class RunSafeJSONRenderer(JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except (TypeError, ValueError):
            return super().render(json_safe(data), accepted_media_type, renderer_context)
