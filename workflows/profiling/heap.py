"""Memory of this process through tracemalloc: top allocations by line, and growth.

tracemalloc sees only what is allocated while it traces, so the first heap request
starts it (or start the server with PYTHONTRACEMALLOC=N to see everything from boot).
Tracing costs CPU on every allocation; `stop()` turns it off again.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
import time
import tracemalloc
from typing import Any

from workflows.profiling.pprof import PprofFrame, ProfileBuilder

FRAMES = 16  # traceback depth kept per allocation: enough for pprof call graphs
_IGNORED = (tracemalloc.__file__, linecache.__file__, "<frozen importlib._bootstrap>",
            "<frozen importlib._bootstrap_external>", "<unknown>")
_lock = threading.Lock()
_previous: tracemalloc.Snapshot | None = None
_started_at: float | None = None


def ensure_tracing() -> bool:
    """Start tracing if it is off; True when this call started it."""
    global _started_at
    with _lock:
        if tracemalloc.is_tracing():
            if _started_at is None:
                _started_at = time.time()  # started by PYTHONTRACEMALLOC
            return False
        tracemalloc.start(FRAMES)
        _started_at = time.time()
        return True


def stop() -> None:
    global _previous, _started_at
    with _lock:
        tracemalloc.stop()
        _previous = None
        _started_at = None


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, name) for name in _IGNORED])


def heap_report(top: int = 25, diff: bool = False) -> dict[str, Any]:
    """Top `top` lines by live bytes; with `diff`, growth since the previous report."""
    global _previous
    started_now = ensure_tracing()
    snapshot = _snapshot()
    with _lock:
        previous, _previous = _previous, snapshot
    report: dict[str, Any] = {
        "pid": os.getpid(), "tracing_since": _started_at, "started_now": started_now,
        "traced_bytes": tracemalloc.get_traced_memory()[0],
        "peak_bytes": tracemalloc.get_traced_memory()[1],
        "tracemalloc_overhead_bytes": tracemalloc.get_tracemalloc_memory(),
        "diff": diff and previous is not None,
    }
    if diff and previous is not None:
        stats = snapshot.compare_to(previous, "lineno")[:top]
        report["top"] = [{"file": s.traceback[0].filename, "line": s.traceback[0].lineno,
                          "size_bytes": s.size, "size_diff_bytes": s.size_diff,
                          "count": s.count, "count_diff": s.count_diff,
                          "code": linecache.getline(s.traceback[0].filename,
                                                    s.traceback[0].lineno).strip()}
                         for s in stats]
    else:
        top_lines = snapshot.statistics("lineno")[:top]
        report["top"] = [{"file": s.traceback[0].filename, "line": s.traceback[0].lineno,
                          "size_bytes": s.size, "count": s.count,
                          "code": linecache.getline(s.traceback[0].filename,
                                                    s.traceback[0].lineno).strip()}
                         for s in top_lines]
    return report


def heap_text(report: dict[str, Any]) -> str:
    lines = [f"heap of pid {report['pid']}: {report['traced_bytes']:,} bytes traced "
             f"(peak {report['peak_bytes']:,}), tracemalloc itself uses "
             f"{report['tracemalloc_overhead_bytes']:,}"]
    if report["started_now"]:
        lines.append("tracing started by this request: call again after some traffic")
    if report["diff"]:
        lines.append("growth since the previous heap request:")
        lines.append(f"{'+bytes':>12} {'bytes':>12} {'+count':>8}  where")
        for s in report["top"]:
            lines.append(f"{s['size_diff_bytes']:>+12,} {s['size_bytes']:>12,} "
                         f"{s['count_diff']:>+8,}  {s['file']}:{s['line']}  {s['code']}")
    else:
        lines.append(f"{'bytes':>12} {'count':>8} {'avg':>7}  where")
        for s in report["top"]:
            avg = s["size_bytes"] // max(1, s["count"])
            lines.append(f"{s['size_bytes']:>12,} {s['count']:>8,} {avg:>7,}  "
                         f"{s['file']}:{s['line']}  {s['code']}")
    return "\n".join(lines) + "\n"


def heap_pprof() -> bytes:
    """Live allocations with their call stacks as a pprof heap profile (inuse_space)."""
    ensure_tracing()
    builder = ProfileBuilder([("inuse_objects", "count"), ("inuse_space", "bytes")])
    builder.comment(f"thaiyyal tracemalloc heap, pid {os.getpid()}")
    for stat in _snapshot().statistics("traceback"):
        # tracemalloc frames carry file and line only: the "function" is the line.
        # A Traceback lists the oldest frame first; pprof wants the leaf first.
        stack = [PprofFrame(f"{frame.filename}:{frame.lineno}", frame.filename, frame.lineno,
                            frame.lineno) for frame in reversed(stat.traceback)]
        builder.add(stack, [stat.count, stat.size])
    builder.time_nanos = time.time_ns()
    return builder.encode()


def allocs_summary() -> dict[str, Any]:
    """What Go's `allocs` profile answers, as far as CPython can."""
    tracing = tracemalloc.is_tracing()
    current, peak = tracemalloc.get_traced_memory() if tracing else (0, 0)
    return {
        "pid": os.getpid(), "tracing": tracing, "tracing_since": _started_at,
        "traced_bytes": current, "peak_traced_bytes": peak,
        "allocated_blocks": sys.getallocatedblocks(),
        "note": "CPython keeps no record of past allocations, only of live ones while "
                "tracemalloc traces. /debug/pprof/heap starts tracing and lists the top "
                "live allocations by line; heap?diff=1 shows growth since the previous "
                "call; heap?format=pprof gives the stacks to pprof; the peak above is the "
                "high-water mark since tracing began.",
    }
