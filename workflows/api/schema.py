"""OpenAPI post-processing: every operation documents the JSON errors it can answer."""

from __future__ import annotations

from typing import Any

#: answered by any endpoint (auth, throttling, body checks happen before the view)
COMMON = {
    "400": "invalid request (paths in details)",
    "401": "not authenticated",
    "403": "forbidden",
    "413": "request body too large",
    "415": "body is not application/json",
    "429": "throttled",
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any,
                        public: bool) -> dict[str, Any]:
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            codes = dict(COMMON)
            if "{" in path:
                codes["404"] = "not found"
            if method == "get":
                codes.pop("413")
                codes.pop("415")
            for code, description in codes.items():
                responses.setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": ERROR_REF}},
                })
    return result
