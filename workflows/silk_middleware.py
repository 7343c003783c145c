"""silk's middleware, also recording INSERT statements.

silk wraps only SQLCompiler.execute_sql, which Django's insert compiler overrides: without
this, the run and node-run rows an execute request writes would not show in silk. Loaded
by Django as middleware (after app loading), never imported by settings.
"""

from __future__ import annotations

import traceback
from typing import Any

from django.db.models.sql.compiler import SQLInsertCompiler
from django.utils import timezone
from django.utils.encoding import force_str
from silk.collector import DataCollector
from silk.middleware import SilkyMiddleware

from workflows.silk_hooks import IGNORED_QUERIES

MAX_RECORDED_SQL = 10_000  # characters: a bulk insert of node runs can be long


class SilkMiddleware(SilkyMiddleware):
    """SilkyMiddleware plus INSERT recording (installed once, on first use)."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        _record_inserts()


def _record_inserts() -> None:
    if getattr(SQLInsertCompiler, "_thaiyyal_silk", False):
        return
    original = SQLInsertCompiler.execute_sql

    def execute_sql(self: SQLInsertCompiler, *args: Any, **kwargs: Any) -> Any:
        collector = DataCollector()
        if collector.request is None or self.query.model.__module__ == "silk.models":
            return original(self, *args, **kwargs)
        started = timezone.now()
        try:
            return original(self, *args, **kwargs)
        finally:
            _register(collector, self.as_sql(), started)

    SQLInsertCompiler.execute_sql = execute_sql  # type: ignore[method-assign]
    SQLInsertCompiler._thaiyyal_silk = True  # type: ignore[attr-defined]


def _register(collector: DataCollector, statements: list[tuple[str, Any]],
              started: Any) -> None:
    for sql, params in statements:
        try:
            text = sql % tuple(force_str(p) for p in params)
        except (TypeError, ValueError, UnicodeDecodeError):
            text = sql
        if any(ignored in text for ignored in IGNORED_QUERIES):
            continue
        if len(text) > MAX_RECORDED_SQL:
            text = text[:MAX_RECORDED_SQL] + " ..."
        collector.register_query({
            "query": text, "start_time": started, "end_time": timezone.now(),
            "request": collector.request,
            "traceback": "".join(reversed(traceback.format_stack()))})
