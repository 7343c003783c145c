"""Array nodes: slice, sort, find, flat_map, group_by, unique, chunk, reverse, partition,
zip, sample, range, compact and transpose.

Each takes an array: its first input, or (ours, like map and reduce) the array inside an
upstream envelope such as `{range: [...]}`, `{filtered: [...]}` or `{sorted: [...]}` (see
`find_array`). As in Thaiyyal, given anything else a node of this family does not fail: it
returns `{error: "input is not an array", input, original_type}` so the workflow can branch
on it. Only a missing input or a bad configuration is a node error.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from engine.bounds import SAFE_INTEGER, js_number
from engine.errors import ExpressionError, LimitExceeded, NodeError
from engine.nodes import values
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.values import ARRAY_KEYS, is_number, json_key, json_type, truthy

if TYPE_CHECKING:
    from engine.expressions import Expression
    from engine.state import NodeContext

#: how many items the per-item loops evaluate between two deadline checks
_DEADLINE_EVERY = 256

#: Thaiyyal's own cap on `range`, independent of max_array_length
RANGE_MAX_ITEMS = 10_000


#: where an array node looks for the array of an object input: the keys map and filter use,
#: then the envelopes of this module's nodes, so sort -> slice chains without glue nodes
ENVELOPE_KEYS = (*ARRAY_KEYS, "sorted", "sliced", "unique", "reversed", "compacted",
                 "flattened", "sample", "zipped", "transposed")


def find_array(value: Any) -> list[Any] | None:
    """`value` itself if it is an array, else the first array under one of `ENVELOPE_KEYS`
    of an object, else None."""
    return values.find_array(value, ENVELOPE_KEYS)


def checked(items: Any, ctx: NodeContext) -> Iterator[Any]:
    """`items`, checking the run's deadline every _DEADLINE_EVERY of them: for per-item
    work that is more than a few operations (keys of objects as JSON text, groups...)."""
    for index, item in enumerate(items):
        if index % _DEADLINE_EVERY == 0:
            ctx.check_deadline()
        yield item


def check_array_length(ctx: NodeContext, length: int, what: str) -> None:
    """Raise LimitExceeded when an array this node builds is longer than max_array_length."""
    limit = ctx.limits.max_array_length
    if length > limit:
        raise LimitExceeded("max_array_length", limit, ctx.node_id,
                            detail=f"{what} would have {length} items")


def check_string_length(ctx: NodeContext, length: int, what: str) -> None:
    """Raise LimitExceeded when a string this node builds is longer than max_string_length."""
    limit = ctx.limits.max_string_length
    if length > limit:
        raise LimitExceeded("max_string_length", limit, ctx.node_id,
                            detail=f"{what} would be {length} characters long")


def first_input(node: str, inputs: list[Any]) -> Any:
    """The first input; a node error when there is none."""
    if not inputs:
        raise NodeError(f"{node} node needs at least 1 input")
    return inputs[0]


def not_an_array(value: Any) -> dict[str, Any]:
    """Thaiyyal's envelope for an array node that received something else."""
    return {"error": "input is not an array", "input": value, "original_type": json_type(value)}


def value_key(value: Any) -> str:
    """The text of a value used as a group name: strings as they are, numbers without a
    needless `.0`, booleans `true`/`false`, null `<nil>` (Thaiyyal's spelling), arrays
    and objects as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if is_number(value):
        return repr(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _whole(value: Any) -> int | None:
    """A finite number as an int, truncated toward zero as Thaiyyal does (1.9 -> 1);
    None for anything else."""
    if is_number(value) and math.isfinite(value):
        return int(value)
    return None


def _integer(config: Mapping[str, Any], name: str, default: int) -> int:
    """A numeric field as an int (see `_whole`), or `default` when absent."""
    value = _whole(config.get(name))
    return default if value is None else value


def _matches(expr: Expression, ctx: NodeContext, items: list[Any], index: int) -> bool:
    """Whether `expr` holds for items[index]; an evaluation error means "no"."""
    try:
        return truthy(expr.evaluate(ctx.scope, input=items, item=items[index], index=index,
                                    items=items))
    except ExpressionError:
        return False


@register
class SliceNode(Node):
    """`sliced` = input[start:end] (or start + length); negative indexes count from the end."""

    type_name = "slice"
    nesting = 1  # items of its input, once, in an envelope
    fields = (Field("start", "number"), Field("end", "number"), Field("length", "number"))

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("slice", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        size = len(arr)
        start = _clamp_index(_integer(self.config, "start", 0), size)
        end = _whole(self.config.get("end"))
        if end is None:
            length = _whole(self.config.get("length"))
            end = size if length is None else start + length
        end = _clamp_index(end, size)
        start = min(start, end)
        sliced = arr[start:end]
        return {"sliced": sliced, "input_count": size, "output_count": len(sliced),
                "start": start, "end": end}


def _clamp_index(index: int, size: int) -> int:
    if index < 0:
        index += size
    return max(0, min(index, size))


def sort_key(value: Any) -> tuple[int, Any]:
    """A total order over JSON values: null first, then numbers, strings, booleans (false
    before true), and arrays/objects by their text. Thaiyyal's comparator agrees on values
    of one type; it compares mixed types by their text, which is not a consistent order."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (3, value)
    if is_number(value):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (4, value_key(value))


def _one_plain_type(values: list[Any]) -> bool:
    """All numbers or all strings: such values order themselves as `sort_key` would."""
    types = {type(value) for value in values}
    return types <= {int, float} or types == {str}


@register
class SortNode(Node):
    """Sorts an array (stable, in both orders) by its values or by one `field` of its
    objects, in `sort_key` order."""

    type_name = "sort"
    nesting = 1  # items of its input, once, in an envelope
    fields = (
        Field("field", "string", default=""),
        Field("order", "string", default="asc", choices=("asc", "desc"), fold_case=True,
              unsupported="sort order must be 'asc' or 'desc', got '{value}'"),
    )

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("sort", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        field = self.config.get("field") or ""
        order = self.config.get("order") or "asc"
        values = [item.get(field) if isinstance(item, dict) else None for item in arr] \
            if field else arr
        keys: list[Any] = values if _one_plain_type(values) else [
            sort_key(v) for v in checked(values, ctx)]
        # sort positions, not items: equal keys never compare the items themselves
        positions = sorted(range(len(arr)), key=keys.__getitem__, reverse=order == "desc")
        ordered = [arr[i] for i in positions]
        return {"sorted": ordered, "count": len(ordered), "field": field, "order": order}


@register
class FindNode(Node):
    """The first item for which `condition` holds (`index` too with `return_index`)."""

    type_name = "find"
    nesting = 1  # items of its input, once, in an envelope
    fields = (
        Field("condition", "expression", required=True, aliases=("expression",)),
        Field("return_index", "boolean", default=False),
    )

    __slots__ = ("_condition",)

    def setup(self) -> None:
        self._condition = self.config["condition"]

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("find", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        condition = self._condition
        for index, item in enumerate(arr):
            if index % _DEADLINE_EVERY == 0:
                ctx.check_deadline()
            if _matches(condition, ctx, arr, index):
                if self.config.get("return_index"):
                    return {"found": item, "index": index, "condition": condition.source}
                return {"found": item, "condition": condition.source}
        return {"found": None, "not_found": True, "condition": condition.source,
                "input_count": len(arr)}


@register
class FlatMapNode(Node):
    """Concatenates the arrays under `field` of every object (or the items themselves
    when they are arrays and no field is given). A non-array value counts as one item;
    objects without the field, and non-objects when a field is given, are skipped."""

    type_name = "flat_map"
    fields = (Field("field", "string", default=""),)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("flat_map", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        field = self.config.get("field") or ""
        by_field = field not in ("", ".")
        flattened: list[Any] = []
        limit = ctx.limits.max_array_length
        for item in checked(arr, ctx):
            if by_field:
                if not isinstance(item, dict) or field not in item:
                    continue
                item = item[field]
            if isinstance(item, list):
                flattened.extend(item)
            else:
                flattened.append(item)
            if len(flattened) > limit:
                check_array_length(ctx, len(flattened), "flat_map result")
        return {"flattened": flattened, "input_count": len(arr),
                "output_count": len(flattened), "field": field}


#: group_by aggregate -> the result key holding its per-group values
_AGGREGATE_KEYS = {"count": "counts", "sum": "sums", "avg": "averages", "min": "minimums",
                   "max": "maximums", "values": "values"}


@register
class GroupByNode(Node):
    """Groups items by the text of their `field` (items without it go to `<missing>`,
    non-objects by their own text) and aggregates each group: count, or sum/avg/min/max of
    the numbers under `value_field`, or the items themselves (values)."""

    type_name = "group_by"
    fields = (
        Field("field", "string", required=True),
        Field("aggregate", "string", default="count", choices=tuple(_AGGREGATE_KEYS),
              unsupported="unknown aggregate function: {value}"),
        Field("value_field", "string", default=""),
    )

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        if not config.get("field"):
            report("field", "group_by node requires non-empty 'field'")
        aggregate = config.get("aggregate") or "count"
        if aggregate in ("sum", "avg", "min", "max") and not config.get("value_field"):
            report("value_field", f"group_by with '{aggregate}' aggregate requires 'value_field'")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("group_by", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        field = self.config["field"]
        aggregate = self.config.get("aggregate") or "count"
        groups: dict[str, list[Any]] = {}
        for item in checked(arr, ctx):
            if isinstance(item, dict):
                key = value_key(item[field]) if field in item else "<missing>"
            else:
                key = value_key(item)
            groups.setdefault(key, []).append(item)
        value_field = self.config.get("value_field") or ""
        aggregated = {key: _aggregate(aggregate, items, value_field)
                      for key, items in groups.items()}
        return {"groups": groups, "group_count": len(groups), "input_count": len(arr),
                "field": field, "aggregate": aggregate, _AGGREGATE_KEYS[aggregate]: aggregated}


def _aggregate(aggregate: str, items: list[Any], value_field: str) -> Any:
    if aggregate == "count":
        return len(items)
    if aggregate == "values":
        return items
    numbers = [item[value_field] for item in items
               if isinstance(item, dict) and is_number(item.get(value_field))]
    if aggregate == "sum":
        return js_number(sum(numbers), "sum")
    if aggregate == "avg":
        return js_number(sum(numbers) / len(numbers), "avg") if numbers else 0
    if not numbers:
        return None
    return min(numbers) if aggregate == "min" else max(numbers)


@register
class UniqueNode(Node):
    """Drops repeated items, keeping the first; with `field`, items are compared by that
    field (objects without it are always kept)."""

    type_name = "unique"
    nesting = 1  # items of its input, once, in an envelope
    fields = (Field("field", "string", default=""),)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("unique", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        field = self.config.get("field") or ""
        seen: set[Any] = set()
        unique: list[Any] = []
        for item in checked(arr, ctx):
            try:
                if field and isinstance(item, dict):
                    if field not in item:
                        unique.append(item)
                        continue
                    key = json_key(item[field])
                else:
                    key = json_key(item)
            except ExpressionError as exc:  # nested too deeply
                raise NodeError(f"unique: {exc}") from None
            if key not in seen:
                seen.add(key)
                unique.append(item)
        return {"unique": unique, "input_count": len(arr), "output_count": len(unique),
                "removed": len(arr) - len(unique)}


@register
class ChunkNode(Node):
    """Splits an array into consecutive arrays of `size` items (the last may be shorter)."""

    type_name = "chunk"
    fields = (Field("size", "number", default=10),)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        size = _whole(config.get("size"))
        if size is not None and size <= 0:
            report("size", f"chunk size must be greater than 0, got {size}")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("chunk", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        size = _integer(self.config, "size", 10)
        if size <= 0:
            raise NodeError(f"chunk size must be greater than 0, got {size}")
        chunks = [arr[i:i + size] for i in range(0, len(arr), size)]
        return {"chunks": chunks, "input_count": len(arr), "chunk_count": len(chunks),
                "chunk_size": size}


@register
class ReverseNode(Node):
    """The array in reverse order."""

    type_name = "reverse"
    nesting = 1  # items of its input, once, in an envelope

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("reverse", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        return {"reversed": arr[::-1], "count": len(arr)}


@register
class PartitionNode(Node):
    """Splits an array into the items for which `condition` holds (`passed`) and the rest
    (`failed`, which also gets the items whose condition fails to evaluate)."""

    type_name = "partition"
    fields = (Field("condition", "expression", required=True, aliases=("expression",)),)

    __slots__ = ("_condition",)

    def setup(self) -> None:
        self._condition = self.config["condition"]

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("partition", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        passed: list[Any] = []
        failed: list[Any] = []
        for index, item in enumerate(arr):
            if index % _DEADLINE_EVERY == 0:
                ctx.check_deadline()
            (passed if _matches(self._condition, ctx, arr, index) else failed).append(item)
        return {"passed": passed, "failed": failed, "passed_count": len(passed),
                "failed_count": len(failed), "input_count": len(arr),
                "condition": self._condition.source}


@register
class ZipNode(Node):
    """Combines arrays element-wise into tuples: the array inputs (in edge order) followed
    by the literal arrays of `arrays`; shorter arrays are padded with `fill_missing`."""

    type_name = "zip"
    fields = (Field("arrays", "array", default=None), Field("fill_missing", "any"))

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        for index, entry in enumerate(config.get("arrays") or ()):
            if not isinstance(entry, list):
                report("arrays", f"arrays[{index}] must be an array, got {json_type(entry)}")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        arrays = [arr for arr in map(find_array, inputs) if arr is not None]
        arrays.extend(self.config.get("arrays") or ())
        if not arrays:
            raise NodeError("zip node requires at least one array")
        fill = self.config.get("fill_missing")
        longest = max(len(arr) for arr in arrays)
        zipped = [[arr[i] if i < len(arr) else fill for arr in arrays] for i in range(longest)]
        return {"zipped": zipped, "array_count": len(arrays), "tuple_count": len(zipped),
                "max_length": longest}


@register
class SampleNode(Node):
    """`count` items: the first, the last, or a random choice (order random too). A `seed`
    makes the random choice reproducible."""

    type_name = "sample"
    fields = (
        Field("count", "number", default=1),
        Field("method", "string", default="random", choices=("random", "first", "last"),
              unsupported="unknown sample method: {value}"),
        Field("seed", "integer"),
    )

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        count = _whole(config.get("count"))
        if count is not None and count <= 0:
            report("count", f"sample count must be greater than 0, got {count}")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("sample", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        count = _integer(self.config, "count", 1)
        if count <= 0:
            raise NodeError(f"sample count must be greater than 0, got {count}")
        method = self.config.get("method") or "random"
        if method == "first":
            sample = arr[:count]
        elif method == "last":
            sample = arr[max(0, len(arr) - count):]
        elif count >= len(arr):
            sample = list(arr)
        else:
            sample = random.Random(self.config.get("seed")).sample(arr, count)
        return {"sample": sample, "input_count": len(arr), "output_count": len(sample),
                "method": method}


@register
class RangeNode(Node):
    """The numbers from `start` to `end` inclusive, `step` apart (a decreasing range needs
    a negative step). Steps are exact decimals: 0 to 1 by 0.1 ends at 1, not 0.99999."""

    type_name = "range"
    nesting = 2  # numbers, in a list, in an envelope
    fields = (
        Field("start", "number", default=0),
        Field("end", "number", default=10),
        Field("step", "number", default=1),
    )

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        problem = _range_problem(*_range_bounds(config))
        if problem:
            report("step", problem)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        start, end, step = _range_bounds(self.config)
        problem = _range_problem(start, end, step)
        if problem:
            raise NodeError(problem)
        count = _range_count(start, end, step)
        if count > RANGE_MAX_ITEMS:
            raise NodeError(f"range would generate more than {RANGE_MAX_ITEMS} items, "
                            f"adjust start/end/step")
        check_array_length(ctx, count, "range")
        return {"range": _range_values(start, step, count), "count": count,
                "start": start, "end": end, "step": step}


def _range_bounds(config: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    def pick(name: str, default: int) -> Any:
        value = config.get(name)
        return default if value is None else value
    return pick("start", 0), pick("end", 10), pick("step", 1)


def _range_problem(start: Any, end: Any, step: Any) -> str | None:
    if not all(is_number(v) and math.isfinite(v) for v in (start, end, step)):
        return "range start, end and step must be finite numbers"
    if step == 0:
        return "range step cannot be 0"
    if step > 0 and start > end:
        return (f"range with positive step requires start <= end, "
                f"got start={value_key(start)} end={value_key(end)}")
    if step < 0 and start < end:
        return (f"range with negative step requires start >= end, "
                f"got start={value_key(start)} end={value_key(end)}")
    return None


def _decimal(value: Any) -> Decimal:
    # repr() gives the shortest text that round-trips: 0.1 -> Decimal("0.1"), not its binary
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _range_count(start: Any, end: Any, step: Any) -> int:
    try:
        return int((_decimal(end) - _decimal(start)) / _decimal(step)) + 1
    except (InvalidOperation, OverflowError):
        return RANGE_MAX_ITEMS + 1


def _range_values(start: Any, step: Any, count: int) -> list[Any]:
    last = start + step * (count - 1)
    if isinstance(start, int) and isinstance(step, int) and abs(last) <= SAFE_INTEGER:
        return list(range(start, start + step * count, step))
    first, delta = _decimal(start), _decimal(step)
    return [float(first + delta * k) for k in range(count)]


@register
class CompactNode(Node):
    """Drops null (and NaN) items; with `remove_empty`, empty strings too."""

    type_name = "compact"
    nesting = 1  # items of its input, once, in an envelope
    fields = (Field("remove_empty", "boolean", default=False),)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("compact", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        remove_empty = bool(self.config.get("remove_empty"))
        compacted = [item for item in arr
                     if item is not None
                     and not (isinstance(item, float) and math.isnan(item))
                     and not (remove_empty and item == "")]
        return {"compacted": compacted, "input_count": len(arr),
                "output_count": len(compacted), "removed": len(arr) - len(compacted)}


@register
class TransposeNode(Node):
    """Swaps rows and columns of an array of equally long arrays. Like Thaiyyal, a
    malformed matrix is reported in the result (`error`) rather than failing the run."""

    type_name = "transpose"

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = first_input("transpose", inputs)
        arr = find_array(value)
        if arr is None:
            return not_an_array(value)
        if not arr:
            return {"transposed": [], "rows": 0, "cols": 0}
        if not isinstance(arr[0], list):
            return {"error": "input is not a 2D array (array of arrays)",
                    "first_element": arr[0], "expected": "array of arrays"}
        rows, cols = len(arr), len(arr[0])
        for index, row in enumerate(arr):
            if not isinstance(row, list):
                return {"error": f"row {index} is not an array", "row_index": index,
                        "row_value": row}
            if len(row) != cols:
                return {"error": "all rows must have the same length", "expected_cols": cols,
                        "row_index": index, "actual_cols": len(row)}
        transposed = [list(column) for column in zip(*arr, strict=True)] if cols else []
        return {"transposed": transposed, "rows": rows, "cols": cols,
                "transposed_rows": cols, "transposed_cols": rows}
