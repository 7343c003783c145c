"""Every thread's stack: Python's answer to Go's goroutine dump."""

from __future__ import annotations

import linecache
import os
import sys
import threading
from collections import Counter
from types import FrameType
from typing import Any

from workflows.profiling.sampler import native_id_of


def _walk(frame: FrameType | None) -> list[tuple[str, int, str]]:
    stack = []
    while frame is not None:
        stack.append((frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_qualname))
        frame = frame.f_back
    stack.reverse()
    return stack


def dump_threads(exclude: frozenset[int] = frozenset()) -> dict[str, Any]:
    """This process's threads, each with its stack (outermost call first)."""
    threads = {t.ident: t for t in threading.enumerate()}
    # Walk every stack before reading any source line: file reads release the GIL, and a
    # thread that runs on meanwhile would leave us holding finished frames.
    stacks = {ident: _walk(frame) for ident, frame in sys._current_frames().items()
              if ident not in exclude}
    out = []
    for ident, raw in stacks.items():
        thread = threads.get(ident)
        stack = [{"file": filename, "line": line, "function": name,
                  "code": linecache.getline(filename, line).strip()}
                 for filename, line, name in raw]
        out.append({"name": thread.name if thread else f"thread-{ident}", "ident": ident,
                    "native_id": native_id_of(thread),
                    "daemon": thread.daemon if thread else None, "stack": stack})
    out.sort(key=lambda t: (t["name"] != "MainThread", t["name"]))
    linecache.clearcache()  # the dump must not pin source files in memory
    return {"pid": os.getpid(), "count": len(out), "threads": out}


def threads_text(dumps: list[dict[str, Any]]) -> str:
    """Readable dump, like `goroutine?debug=2`: a header per thread, then its frames."""
    lines = []
    total = sum(d["count"] for d in dumps)
    lines.append(f"{total} threads in {len(dumps)} process(es)\n")
    for dump in dumps:
        lines.append(f"== pid {dump['pid']}: {dump['count']} threads")
        for thread in dump["threads"]:
            flags = " daemon" if thread["daemon"] else ""
            lines.append(f"\nthread {thread['name']!r} ident={thread['ident']} "
                         f"tid={thread['native_id']}{flags}:")
            for frame in thread["stack"]:
                lines.append(f"  File \"{frame['file']}\", line {frame['line']}, "
                             f"in {frame['function']}")
                if frame["code"]:
                    lines.append(f"    {frame['code']}")
        lines.append("")
    return "\n".join(lines) + "\n"


def stack_counts(dumps: list[dict[str, Any]]) -> Counter[tuple[tuple[str, str, int], ...]]:
    """Identical stacks grouped (outermost first), as `goroutine?debug=1` does."""
    counts: Counter[tuple[tuple[str, str, int], ...]] = Counter()
    for dump in dumps:
        for thread in dump["threads"]:
            counts[tuple((f["function"], f["file"], f["line"]) for f in thread["stack"])] += 1
    return counts
