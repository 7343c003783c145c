"""Data nodes: `parse` (text -> JSON values: JSON, CSV, TSV, YAML, XML) and `format`
(JSON values -> JSON, CSV or TSV text).

Parsers run on user text, so each is bounded: YAML aliases and XML nesting cannot blow a
small document up into a huge value, XML refuses DTDs and entity declarations, and
every parse error is a node error naming the format.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from xml.parsers import expat

import yaml  # type: ignore[import-untyped]

from engine import bounds
from engine.bounds import js_number, number_from_digits
from engine.errors import NodeError
from engine.nodes.arrays import check_array_length, check_string_length, value_key
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.values import json_type, text_of

if TYPE_CHECKING:
    from engine.state import NodeContext

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def infer_scalar(text: str) -> Any:
    """A text cell as the value it spells: `30` -> 30, `1.5` -> 1.5, `true`/`false`, `null`
    -> None; anything else (trimmed) stays a string."""
    trimmed = text.strip()
    if trimmed == "true":
        return True
    if trimmed == "false":
        return False
    if trimmed == "null":
        return None
    if _INTEGER.fullmatch(trimmed):
        return number_from_digits(trimmed, "number")
    if _NUMBER.fullmatch(trimmed):
        return js_number(float(trimmed), "number")
    return trimmed


def as_text(value: Any) -> str:
    """What `parse` reads from a non-string input: numbers and booleans as JSON spells
    them, null as "", arrays and objects as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def detect_format(text: str) -> str:
    """Thaiyyal's AUTO detection: JSON-looking text that parses, then XML (`<...>`), then
    YAML (several `key: value` lines), then CSV/TSV (separators in the first of several
    lines), else JSON."""
    trimmed = text.strip()
    if not trimmed:
        return "json"
    if (trimmed[0], trimmed[-1]) in (("{", "}"), ("[", "]")):
        try:
            json.loads(trimmed)
            return "json"
        except (ValueError, RecursionError):
            pass
    if trimmed.startswith("<") and trimmed.endswith(">"):
        return "xml"
    lines = trimmed.split("\n")
    if len(lines) > 1:
        if sum(1 for line in lines if ": " in line.strip()) >= 2:
            return "yaml"
        commas, tabs = lines[0].count(","), lines[0].count("\t")
        if tabs > commas:
            return "tsv"
        if commas > 0:
            return "csv"
    return "json"


def parse_json(text: str) -> Any:
    try:
        return bounds.loads(text.strip())
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise NodeError("invalid JSON: empty input") from None
        raise NodeError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") \
            from None
    except ValueError as exc:
        raise NodeError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise NodeError("invalid JSON: nested too deeply") from None


#: rows, elements or scalars a parser reads between two checks of the run's deadline
CHECK_EVERY = 1024


def _never() -> None:
    return None


def parse_table(text: str, delimiter: str,
                check: Callable[[], None] = _never) -> list[dict[str, Any]]:
    """CSV/TSV with a header row -> one object per row, cells typed by `infer_scalar`.
    A short row gets null for its missing cells; a row longer than the header fails."""
    label = "TSV" if delimiter == "\t" else "CSV"
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True,
                        strict=True)
    rows = []
    try:
        for row in reader:
            if row:
                rows.append(row)
                if len(rows) % CHECK_EVERY == 0:
                    check()
    except csv.Error as exc:
        raise NodeError(f"invalid {label}: {exc} (line {reader.line_num})") from None
    if not rows:
        return []
    header = rows[0]
    records = []
    for line, row in enumerate(rows[1:], start=2):
        if line % CHECK_EVERY == 0:
            check()
        if len(row) > len(header):
            raise NodeError(f"invalid {label}: row {line} has {len(row)} fields, "
                            f"the header has {len(header)}")
        cells = [infer_scalar(cell) for cell in row]
        cells.extend([None] * (len(header) - len(row)))
        records.append(dict(zip(header, cells, strict=True)))
    return records


_YAML_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _YamlLoader(_YAML_BASE):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's when available: it caps nesting depth) without
    implicit timestamps, so `2024-01-01` stays the text it was written as. It checks the
    deadline every CHECK_EVERY scalars: libyaml calls `resolve` for each, and resolving
    (Python regexes) is where a megabyte of YAML spends its second or two."""

    check: Callable[[], None] = staticmethod(_never)
    resolved = 0

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        self.resolved += 1
        if self.resolved % CHECK_EVERY == 0:
            self.check()
        return super().resolve(kind, value, implicit)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        self.resolved += 1  # building the values is the other half of the work
        if self.resolved % CHECK_EVERY == 0:
            self.check()
        return super().construct_object(node, deep)


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _YAML_BASE.yaml_implicit_resolvers.items()
}


class _Budget:
    """Counts the values a conversion produces. YAML aliases share one object between many
    places; writing each place out copies it, so a few aliased lines could otherwise
    become gigabytes (the "billion laughs")."""

    __slots__ = ("left", "check")

    def __init__(self, size: int, check: Callable[[], None]) -> None:
        self.left = size
        self.check = check

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise NodeError("invalid YAML: aliases expand the document too much")
        if self.left % CHECK_EVERY == 0:
            self.check()


def parse_yaml(text: str, check: Callable[[], None] = _never) -> Any:
    loader = _YamlLoader(text)
    loader.check = check
    try:
        # a document of N characters legitimately holds at most about N values
        return _from_yaml(loader.get_single_data(), _Budget(len(text) + 1000, check))
    except yaml.YAMLError as exc:
        raise NodeError(f"invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise NodeError("invalid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise NodeError(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _from_yaml(value: Any, budget: _Budget) -> Any:
    """A loaded YAML value as JSON values: keys become strings, sets arrays, explicit
    timestamps ISO text, binary base64 text."""
    budget.spend()
    # Converted in place where the shape allows: the loader's values are ours, and a
    # megabyte of YAML is a million objects, which a copy would double (and the garbage
    # collector's pauses with them).
    if value.__class__ is dict and all(k.__class__ is str for k in value):
        for key, item in value.items():
            value[key] = _from_yaml(item, budget)
        return value
    if isinstance(value, dict):
        return {_yaml_key(k): _from_yaml(v, budget) for k, v in value.items()}
    if value.__class__ is list:
        for position, item in enumerate(value):
            value[position] = _from_yaml(item, budget)
        return value
    if isinstance(value, list | tuple):
        return [_from_yaml(v, budget) for v in value]
    if isinstance(value, set):
        return [_from_yaml(v, budget) for v in sorted(value, key=value_key)]
    if isinstance(value, float) and not math.isfinite(value):
        raise NodeError(f"invalid YAML: {value} cannot be represented in JSON")
    if value.__class__ is int:
        return js_number(value, "YAML number")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _yaml_key(key: Any) -> str:
    if isinstance(key, tuple):  # a complex (sequence) key
        return json.dumps(list(key), separators=(",", ":"), default=str)
    if isinstance(key, dt.date | dt.datetime):
        return key.isoformat()
    if key is None:
        return "null"
    return key if isinstance(key, str) else value_key(key)


#: deepest element nesting `parse` accepts in XML
MAX_XML_DEPTH = 256


class _XmlElement:
    __slots__ = ("tag", "attributes", "children", "text")

    def __init__(self, tag: str, attributes: dict[str, str]) -> None:
        self.tag = tag
        self.attributes = attributes
        self.children: list[_XmlElement] = []
        self.text: list[str] = []


class _XmlTree:
    """Expat handlers building the element tree. DTDs are refused outright: without them
    no entity can be declared, so none can expand (billion laughs) or reach a file or
    URL (XXE)."""

    def __init__(self, check: Callable[[], None]) -> None:
        self.root: _XmlElement | None = None
        self.stack: list[_XmlElement] = []
        self.check = check
        self.elements = 0

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        self.elements += 1
        if self.elements % CHECK_EVERY == 0:
            self.check()
        if len(self.stack) >= MAX_XML_DEPTH:
            raise NodeError(f"invalid XML: elements nest deeper than {MAX_XML_DEPTH} levels")
        element = _XmlElement(tag, attributes)
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)

    def end(self, tag: str) -> None:
        self.stack.pop()

    def text(self, data: str) -> None:
        if self.stack:
            self.stack[-1].text.append(data)

    @staticmethod
    def refuse_dtd(*args: Any) -> None:
        raise NodeError("invalid XML: DTDs and entity declarations are not allowed")


def parse_xml(text: str, check: Callable[[], None] = _never) -> Any:
    """XML -> `{root_tag: value}`. An element with only text is that text's value
    (`<age>30</age>` -> 30); otherwise an object of its children (repeated tags become
    arrays), attributes under `@name`, and its own text under `#text`."""
    tree = _XmlTree(check)
    # the text is already decoded: parse its UTF-8 bytes whatever the declaration claims
    parser = expat.ParserCreate(encoding="utf-8")
    parser.buffer_text = True
    parser.StartElementHandler = tree.start
    parser.EndElementHandler = tree.end
    parser.CharacterDataHandler = tree.text
    parser.StartDoctypeDeclHandler = tree.refuse_dtd
    parser.EntityDeclHandler = tree.refuse_dtd
    try:
        parser.Parse(text.strip().encode("utf-8"), True)
    except expat.ExpatError as exc:
        raise NodeError(f"invalid XML: {exc}") from None
    if tree.root is None:
        raise NodeError("invalid XML: no root element")
    return {tree.root.tag: _from_xml(tree.root, _Ticks(check))}


class _Ticks:
    """Calls `check` every CHECK_EVERY ticks."""

    __slots__ = ("count", "check")

    def __init__(self, check: Callable[[], None]) -> None:
        self.count = 0
        self.check = check

    def tick(self) -> None:
        self.count += 1
        if self.count % CHECK_EVERY == 0:
            self.check()


def _from_xml(element: _XmlElement, ticks: _Ticks) -> Any:
    ticks.tick()
    text = "".join(element.text).strip()
    if not element.attributes and not element.children:
        return infer_scalar(text) if text else ""
    value: dict[str, Any] = {f"@{name}": infer_scalar(attr)
                             for name, attr in element.attributes.items()}
    repeated: set[str] = set()
    for child in element.children:
        converted = _from_xml(child, ticks)
        if child.tag in repeated:
            value[child.tag].append(converted)
        elif child.tag in value:
            value[child.tag] = [value[child.tag], converted]
            repeated.add(child.tag)
        else:
            value[child.tag] = converted
    if text:
        value["#text"] = infer_scalar(text)
    return value


_PARSERS: dict[str, Callable[[str, Callable[[], None]], Any]] = {
    "json": lambda text, check: parse_json(text),  # C speed: 1 MiB in about 20 ms
    "csv": lambda text, check: parse_table(text, ",", check),
    "tsv": lambda text, check: parse_table(text, "\t", check),
    "yaml": parse_yaml,
    "xml": parse_xml,
}


@register
class ParseNode(Node):
    """Parses the first input (text) as `input_type`: AUTO (detect), JSON, CSV, TSV (a
    header row, then one object per row), YAML or XML (elements -> objects)."""

    type_name = "parse"
    fields = (Field("input_type", "string", default="auto",
                    choices=("auto", *_PARSERS), fold_case=True,
                    unsupported="invalid input_type: {value}"),)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("parse node requires input")
        text = as_text(inputs[0])
        kind = self.config.get("input_type") or "auto"
        if kind == "auto":
            kind = detect_format(text)
        result = _PARSERS[kind](text, ctx.check_deadline)
        if isinstance(result, list):
            check_array_length(ctx, len(result), f"parsed {kind.upper()}")
        return result


def format_table(data: Any, delimiter: str, include_headers: bool) -> str:
    """An object or an array of objects -> CSV text; columns are every key seen, sorted
    (Thaiyyal's order); lines end with a newline."""
    if isinstance(data, dict):
        records = [data]
    elif isinstance(data, list):
        for item in data:
            if not isinstance(item, dict):
                raise NodeError(f"CSV formatting requires array of objects, got array element "
                                f"of type {json_type(item)}")
        records = data
    else:
        raise NodeError(f"CSV formatting requires array of objects or single object, "
                        f"got {json_type(data)}")
    if not records:
        return ""
    headers = sorted({key for record in records for key in record})
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    if include_headers:
        writer.writerow(headers)
    for record in records:
        writer.writerow([text_of(record.get(key)) for key in headers])
    return out.getvalue()


#: what Go's encoding/json escapes in strings (Thaiyyal's format node uses it)
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}


def format_json(data: Any, pretty: bool) -> str:
    """JSON text as Thaiyyal's format node writes it (Go's encoding/json): object keys
    sorted, whole numbers without `.0`, `<`, `>` and `&` escaped."""
    try:
        data = _go_numbers(data)
        if pretty:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False, indent=2,
                              sort_keys=True)
        else:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False,
                              separators=(",", ":"), sort_keys=True)
        for char, escaped in _GO_ESCAPES.items():
            text = text.replace(char, escaped)  # these only occur inside strings
        return text
    except (TypeError, ValueError) as exc:
        raise NodeError(f"failed to format as JSON: {exc}") from None
    except RecursionError:
        raise NodeError("failed to format as JSON: nested too deeply") from None


def _go_numbers(value: Any) -> Any:
    """Whole floats as ints (Go prints float64 2.0 as 2), everything else unchanged."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    return value


@register
class FormatNode(Node):
    """Writes the first input as text: JSON (compact, or indented with `pretty_print`),
    CSV (`delimiter`, `include_headers`) or TSV, from an object or an array of objects."""

    type_name = "format"
    fields = (
        Field("output_type", "string", default="json", choices=("json", "csv", "tsv"),
              fold_case=True, unsupported="unsupported output type: {value}"),
        Field("pretty_print", "boolean", default=False),
        Field("include_headers", "boolean", default=True),
        Field("delimiter", "string", default=","),
    )

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        delimiter = config.get("delimiter") or ","
        if delimiter[0] in "\"\r\n":
            report("delimiter", f"delimiter cannot be {delimiter[0]!r}")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("format node requires input")
        data = inputs[0]
        kind = self.config.get("output_type") or "json"
        if kind == "json":
            text = format_json(data, bool(self.config.get("pretty_print")))
        else:
            # Thaiyyal uses the delimiter's first character; TSV always uses a tab
            delimiter = "\t" if kind == "tsv" else (self.config.get("delimiter") or ",")[0]
            include_headers = self.config.get("include_headers")
            text = format_table(data, delimiter, include_headers is not False)
        check_string_length(ctx, len(text), f"formatted {kind.upper()}")
        return text
