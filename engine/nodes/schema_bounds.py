"""jsonschema validators whose work is bounded: the `schema_validator` node's engine.

jsonschema is kept for everything it does well; three things are changed, per draft class
(with `jsonschema.validators.extend`), because a user's schema and data could otherwise
keep a worker busy for minutes:

- Every regular expression of the schema (`pattern`, `patternProperties`, and the patterns
  `additionalProperties` / `unevaluatedProperties` consult) runs on RE2 (engine/regex.py),
  and `format: "regex"` means "RE2 can run it". jsonschema calls `re.search` from inside
  those keyword functions and their helpers, so we use copies of those very functions
  whose module-level `re` is our RE2 shim: the library's logic, our regex engine.
- `uniqueItems` is linear (jsonschema falls back to comparing every pair, 5e9 comparisons
  for 100,000 objects).
- Every keyword call counts a tick; every `TICKS_PER_CHECK` ticks the run's deadline is
  checked, so validating a big instance stops on time. `format: "regex"` compiles a string
  of the data, which costs far more than a keyword call: it checks the deadline each time.
"""

from __future__ import annotations

import functools
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema._keywords as keywords
import jsonschema._legacy_keywords as legacy_keywords
import jsonschema._utils as utils
from jsonschema import FormatChecker, ValidationError
from jsonschema.validators import extend

from engine import regex
from engine.nodes.values import json_key

#: keyword calls between two deadline checks (a keyword call costs about a microsecond)
TICKS_PER_CHECK = 512

def _search(pattern: str, text: str) -> bool:
    # A schema may hold more patterns than the cache: each search may compile (up to
    # tens of milliseconds), so each checks the deadline first (a check costs ~0.3 us).
    _tick_check()
    return regex.search(pattern, text)


_RE2_SHIM = types.SimpleNamespace(search=_search)


def _rebound(function: Callable[..., Any], **names: Any) -> Callable[..., Any]:
    """A copy of `function` seeing `names` instead of its module's globals of those names."""
    namespace = dict(function.__globals__)
    namespace.update(names)
    copy = types.FunctionType(function.__code__, namespace, function.__name__,
                              function.__defaults__, function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


def _recursive_rebound(function: Callable[..., Any], **names: Any) -> Callable[..., Any]:
    """`_rebound` for a function that calls itself by its global name."""
    copy = _rebound(function, **names)
    copy.__globals__[function.__name__] = copy
    return copy


_find_additional = _rebound(utils.find_additional_properties, re=_RE2_SHIM)
_find_evaluated = _recursive_rebound(utils.find_evaluated_property_keys_by_schema,
                                     re=_RE2_SHIM)
_find_evaluated_2019 = _recursive_rebound(legacy_keywords.find_evaluated_property_keys_by_schema,
                                          re=_RE2_SHIM)


def _unique_items(validator: Any, unique: Any, instance: Any,
                  schema: Any) -> Iterator[ValidationError]:
    if not (unique and validator.is_type(instance, "array")):
        return
    seen: set[Any] = set()
    for position, item in enumerate(instance):
        if position & 1023 == 1023:
            _tick_check()
        key = json_key(item)
        if key in seen:
            yield ValidationError(f"{_preview(instance)} has non-unique elements")
            return
        seen.add(key)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


#: original keyword function -> its bounded replacement (whatever name a draft gives it)
_REPLACEMENTS: dict[Any, Callable[..., Any]] = {
    keywords.pattern: _rebound(keywords.pattern, re=_RE2_SHIM),
    keywords.patternProperties: _rebound(keywords.patternProperties, re=_RE2_SHIM),
    keywords.additionalProperties: _rebound(keywords.additionalProperties,
                                            find_additional_properties=_find_additional),
    keywords.unevaluatedProperties: _rebound(
        keywords.unevaluatedProperties,
        find_evaluated_property_keys_by_schema=_find_evaluated),
    legacy_keywords.unevaluatedProperties_draft2019: _rebound(
        legacy_keywords.unevaluatedProperties_draft2019,
        find_evaluated_property_keys_by_schema=_find_evaluated_2019),
    keywords.uniqueItems: _unique_items,
}


# -- deadline ticks ----------------------------------------------------------------------------

_TICKS = threading.local()


class deadline_checks:  # noqa: N801 - used as a context manager, reads like a function
    """While active on this thread, keyword calls check `check` every TICKS_PER_CHECK."""

    def __init__(self, check: Callable[[], None]) -> None:
        self.check = check

    def __enter__(self) -> None:
        self.saved = getattr(_TICKS, "check", None)
        _TICKS.check = self.check
        _TICKS.count = 0

    def __exit__(self, *exc: object) -> None:
        _TICKS.check = self.saved


def _tick_check() -> None:
    check = getattr(_TICKS, "check", None)
    if check is not None:
        check()


def _ticking(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        count = getattr(_TICKS, "count", 0) + 1
        _TICKS.count = count
        if count % TICKS_PER_CHECK == 0:
            _tick_check()
        result = function(validator, value, instance, schema)
        if result is not None:
            yield from result
    return keyword


# -- validator classes --------------------------------------------------------------------------

def _is_re2_pattern(instance: object) -> bool:
    if isinstance(instance, str):
        # One compile can take tens of milliseconds and a schema's `items` may ask for
        # thousands: the deadline is checked before each. Strings of run data are not
        # cached: they rarely repeat, and each compiled program holds up to a MiB.
        _tick_check()
        regex.compile_uncached(instance)  # raises UnsupportedPattern
    return True


_BOUNDED: dict[Any, Any] = {}
_CHECKERS: dict[Any, FormatChecker] = {}


def bounded(validator_cls: Any) -> Any:
    """`validator_cls` with RE2 patterns, a linear uniqueItems and deadline ticks."""
    if validator_cls not in _BOUNDED:
        replaced = {name: _ticking(_REPLACEMENTS.get(function, function))
                    for name, function in validator_cls.VALIDATORS.items()}
        _BOUNDED[validator_cls] = extend(validator_cls, replaced)
    return _BOUNDED[validator_cls]


def format_checker(validator_cls: Any) -> FormatChecker:
    """The draft's format checker, with `regex` meaning "RE2 can run it"."""
    if validator_cls not in _CHECKERS:
        checker = FormatChecker(formats=())
        checker.checkers = dict(validator_cls.FORMAT_CHECKER.checkers)
        if "regex" in checker.checkers:
            checker.checkers["regex"] = (_is_re2_pattern, regex.UnsupportedPattern)
        _CHECKERS[validator_cls] = checker
    return _CHECKERS[validator_cls]


def unsupported_pattern(error: ValidationError) -> str | None:
    """For a metaschema error on a pattern RE2 refused: why (else None)."""
    if error.validator == "format" and error.validator_value == "regex" and isinstance(
            error.cause, regex.UnsupportedPattern):
        return str(error.cause)
    return None
