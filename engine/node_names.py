"""How a node's type is named: inferred from its data when missing (Thaiyyal's loader rule),
and the editor's component names (`rangeNode`, `textOpNode`) mapped to our type names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Thaiyyal's `inferTypeFromRawData` (backend/pkg/types/node_decoder.go), in its order:
#: (type, keys that must all be present). The first entry whose keys are all in `data` wins.
#: `expression` is special-cased in `infer_type` (it must be a non-empty string).
_INFERENCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("number", ("value",)),
    ("text_input", ("text",)),
    ("boolean_input", ("boolean_value",)),
    ("date_input", ("date_value",)),
    ("datetime_input", ("datetime_value",)),
    ("visualization", ("mode",)),
    ("operation", ("op",)),
    ("text_operation", ("text_op",)),
    ("http", ("url",)),
    ("condition", ("condition", "true_path")),
    ("filter", ("condition",)),
    ("reduce", ("expression", "initial_value")),
    ("expression", ("expression",)),
    ("variable", ("var_name", "var_op")),
    ("extract", ("field",)),
    ("extract", ("fields",)),
    ("transform", ("transform_type",)),
    ("accumulator", ("accum_op",)),
    ("counter", ("counter_op",)),
    ("switch", ("cases",)),
    ("join", ("join_strategy",)),
    ("split", ("paths",)),
    ("delay", ("duration",)),
    ("cache", ("cache_op", "cache_key")),
    ("context_variable", ("context_name",)),
    ("context_variable", ("context_values",)),
    ("retry", ("max_attempts",)),
    ("retry", ("backoff_strategy",)),
    ("try_catch", ("fallback_value",)),
    ("try_catch", ("continue_on_error",)),
    ("timeout", ("timeout", "timeout_action")),
)


#: every data key type inference looks at
INFERENCE_KEYS = frozenset(key for _, keys in _INFERENCE for key in keys)


def infer_type(data: Mapping[str, Any]) -> str | None:
    """The type Thaiyyal gives a node saved without `type`, from which keys its `data` has
    (presence only, whatever the value), or None when no rule applies.

    One quirk kept on purpose: `expression` makes an expression node only when it is a
    non-empty string; otherwise the later rules are tried."""
    for node_type, keys in _INFERENCE:
        if not all(key in data for key in keys):
            continue
        if node_type == "expression":
            expression = data["expression"]
            if not (isinstance(expression, str) and expression):
                continue
        return node_type
    return None
#: The type names of Thaiyyal's editor components (src/components/nodes/nodeInfo.ts; its
#: example library uses them) -> our type names. `barChartNode` and `vizNode` display a
#: result: they run as `visualization` (a pass-through).
EDITOR_TYPES: dict[str, str] = {
    "numberNode": "number",
    "textInputNode": "text_input",
    "booleanInputNode": "boolean_input",
    "dateInputNode": "date_input",
    "datetimeInputNode": "datetime_input",
    "opNode": "operation",
    "textOpNode": "text_operation",
    "httpNode": "http",
    "vizNode": "visualization",
    "barChartNode": "visualization",
    "conditionNode": "condition",
    "filterNode": "filter",
    "forEachNode": "for_each",
    "whileLoopNode": "while_loop",
    "switchNode": "switch",
    "parallelNode": "parallel",
    "joinNode": "join",
    "splitNode": "split",
    "variableNode": "variable",
    "extractNode": "extract",
    "transformNode": "transform",
    "parseNode": "parse",
    "accumulatorNode": "accumulator",
    "counterNode": "counter",
    "delayNode": "delay",
    "cacheNode": "cache",
    "retryNode": "retry",
    "tryCatchNode": "try_catch",
    "timeoutNode": "timeout",
    "contextVariableNode": "context_variable",
    "contextConstantNode": "context_constant",
    "mapNode": "map",
    "reduceNode": "reduce",
    "sliceNode": "slice",
    "sortNode": "sort",
    "findNode": "find",
    "flatMapNode": "flat_map",
    "groupByNode": "group_by",
    "uniqueNode": "unique",
    "chunkNode": "chunk",
    "reverseNode": "reverse",
    "partitionNode": "partition",
    "zipNode": "zip",
    "sampleNode": "sample",
    "rangeNode": "range",
    "transposeNode": "transpose",
    "rendererNode": "renderer",
}

