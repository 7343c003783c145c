"""Date functions. A date is an ISO 8601 string in UTC with milliseconds, the format of
JavaScript's `Date.toISOString()` ("2024-05-01T12:30:00.000Z"), so dates stay plain JSON and
two dates compare correctly with `<` and `>` (same length, alphabetical = chronological).

Inputs accepted wherever a date is expected: such strings, any ISO 8601 date or date-time
(`2024-05-01`, `2024-05-01 12:30:00`, with `Z` or an offset; no zone means UTC), RFC 1123 /
RFC 822 strings (`Wed, 01 May 2024 12:30:00 GMT`), and numbers, read as Unix seconds
(as Thaiyyal does).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from engine.errors import ExpressionError

from .runtime import tidy, to_number, type_name
from .scope import Scope

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def to_datetime(value: Any, what: str) -> datetime:
    cls = value.__class__
    if cls is int or cls is float:
        return _from_seconds(value, what)
    if cls is not str:
        raise ExpressionError(f"{what}: expected a date, got {type_name(value)}")
    text = value.strip()
    if len(text) > 64:
        raise ExpressionError(f"{what}: not a date: {value[:40]!r}...")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise ExpressionError(f"{what}: not a date: {text!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ExpressionError(f"{what}: the date is outside the supported range") from None


def iso(moment: datetime) -> str:
    m = moment
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond // 1000:03d}Z")


def _from_seconds(seconds: Any, what: str) -> datetime:
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise ExpressionError(f"{what}: {seconds} is outside the supported dates") from None


def _shift(moment: datetime, seconds: int | float, what: str) -> datetime:
    try:
        return moment + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise ExpressionError(f"{what}: the date is outside the supported range") from None


def now(scope: Scope) -> str:
    return iso(datetime.now(UTC))


def parse_date(scope: Scope, value: Any) -> str:
    return iso(to_datetime(value, "parseDate()"))


def to_epoch(scope: Scope, value: Any) -> int:
    return math.floor((to_datetime(value, "toEpoch()") - _EPOCH).total_seconds())


def to_epoch_millis(scope: Scope, value: Any) -> int:
    return (to_datetime(value, "toEpochMillis()") - _EPOCH) // _MILLISECOND


def from_epoch(scope: Scope, seconds: Any) -> str:
    return iso(_from_seconds(to_number(seconds, "fromEpoch()"), "fromEpoch()"))


def from_epoch_millis(scope: Scope, millis: Any) -> str:
    number = to_number(millis, "fromEpochMillis()")
    return iso(_from_seconds(number / 1000, "fromEpochMillis()"))


def date_add(scope: Scope, value: Any, seconds: Any) -> str:
    moment = to_datetime(value, "dateAdd()")
    return iso(_shift(moment, to_number(seconds, "dateAdd()"), "dateAdd()"))


def date_diff(scope: Scope, first: Any, second: Any) -> int | float:
    """Seconds from `second` to `first` (positive when `first` is later)."""
    delta = to_datetime(first, "dateDiff()") - to_datetime(second, "dateDiff()")
    return tidy(delta.total_seconds())


def year(scope: Scope, value: Any) -> int:
    return to_datetime(value, "year()").year


def month(scope: Scope, value: Any) -> int:
    return to_datetime(value, "month()").month


def day(scope: Scope, value: Any) -> int:
    return to_datetime(value, "day()").day


def hour(scope: Scope, value: Any) -> int:
    return to_datetime(value, "hour()").hour


def minute(scope: Scope, value: Any) -> int:
    return to_datetime(value, "minute()").minute


def second(scope: Scope, value: Any) -> int:
    return to_datetime(value, "second()").second
