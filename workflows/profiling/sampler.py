"""A sampling profiler for every thread of this process, built on sys._current_frames().

About `hz` times a second a background thread reads every other thread's Python stack.
In "cpu" mode a stack counts only when its thread used CPU since the previous tick
(per-thread CPU time from /proc/self/task/<tid>/schedstat), weighted by that CPU time,
so threads idling in select() or waiting for the GIL do not drown the picture. In "wall"
mode every thread counts at every tick: that is where threads spend their time, waiting
included (the answer to "where is it blocked?").

The result is a plain, JSON-safe `ProcessProfile` so that worker processes can send it to
the worker that asked for it (see agent.py).
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

#: One frame: (file, function qualname, function's first line, current line).
Frame = tuple[str, str, int, int]
MAX_DEPTH = 200
#: Threads of the profiler itself, never part of a profile.
PROFILER_THREAD_PREFIX = "thaiyyal-pprof"
MODES = ("cpu", "wall")


@dataclass(slots=True)
class ProcessProfile:
    """Samples of one process. Stacks are root first; weights are [samples, cpu_ns]."""

    pid: int
    mode: str
    hz: float
    started: float  # Unix seconds
    duration: float  # seconds
    stacks: dict[tuple[str, tuple[Frame, ...]], list[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "mode": self.mode, "hz": self.hz, "started": self.started,
                "duration": self.duration,
                "stacks": [[thread, [list(f) for f in frames], weights]
                           for (thread, frames), weights in self.stacks.items()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessProfile:
        profile = cls(pid=int(data["pid"]), mode=str(data["mode"]), hz=float(data["hz"]),
                      started=float(data["started"]), duration=float(data["duration"]))
        for thread, frames, weights in data["stacks"]:
            key = (str(thread), tuple((str(a), str(b), int(c), int(d)) for a, b, c, d in frames))
            profile.stacks[key] = [int(weights[0]), int(weights[1])]
        return profile


_NUMBERS = re.compile(r"[-_]?\d+")


def thread_label(name: str) -> str:
    """Group pool threads: "ThreadPoolExecutor-3_1" and "..-7_0" are one root frame."""
    return _NUMBERS.sub("", name) or name


class _PathShortener:
    """Shows "engine/runner.py" rather than the full site-packages path."""

    def __init__(self) -> None:
        roots = {os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)}
        self.roots = sorted(roots, key=len, reverse=True)
        self.cache: dict[str, str] = {}

    def __call__(self, filename: str) -> str:
        short = self.cache.get(filename)
        if short is None:
            short = filename
            for root in self.roots:
                if filename.startswith(root + os.sep):
                    short = filename[len(root) + 1:]
                    break
            self.cache[filename] = short
        return short


#: Code flags of frames that lose their caller (f_back is None) while suspended.
_SUSPENDABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def stack_of(frame: FrameType | None, shorten: _PathShortener) -> tuple[tuple[Frame, ...], bool]:
    """The stack, root first, and whether it is whole. A thread's root frame is never a
    generator's or a coroutine's: when the walk ends on one, that generator was suspended
    while we walked (the walk is Python code, so the thread can run on in between) and its
    callers are missing."""
    frames: list[Frame] = []
    last = frame
    while frame is not None and len(frames) < MAX_DEPTH:
        code = frame.f_code
        frames.append((shorten(code.co_filename), code.co_qualname, code.co_firstlineno,
                       frame.f_lineno or code.co_firstlineno))
        last, frame = frame, frame.f_back
    frames.reverse()
    cut = frame is None and last is not None and bool(last.f_code.co_flags & _SUSPENDABLE)
    return tuple(frames), not cut


#: Walks of a thread's stack per tick before a cut one is kept as it is.
WALK_ATTEMPTS = 3


def current_stacks(skip: frozenset[int] | set[int], shorten: _PathShortener,
                   snapshot: Callable[[], dict[int, FrameType]] = sys._current_frames,
                   ) -> dict[int, tuple[Frame, ...]]:
    """Every thread's stack but `skip`'s, walked again (from a fresh `snapshot` of the
    threads' innermost frames) where a walk came out cut."""
    stacks: dict[int, tuple[Frame, ...]] = {}
    for attempt in range(WALK_ATTEMPTS):
        cut = False
        for ident, frame in snapshot().items():
            if ident in skip or ident in stacks:
                continue
            stack, whole = stack_of(frame, shorten)
            if whole or attempt == WALK_ATTEMPTS - 1:
                stacks[ident] = stack
            else:
                cut = True
        if not cut:
            break
    return stacks


def thread_cpu_ns(native_id: int) -> int | None:
    """CPU time a thread has used, in nanoseconds; None where the kernel does not say."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat", "rb") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


#: Python functions whose callee blocks in C (select, accept, lock waits): a thread whose
#: innermost frame is one of these is idle, not waiting for the GIL.
IDLE_LEAVES = frozenset({
    "SyncWorker.wait", "socket.accept", "SelectSelector.select", "PollSelector.select",
    "EpollSelector.select", "Condition.wait", "Event.wait", "Thread.join",
    "Thread._wait_for_tstate_lock", "Semaphore.acquire", "Queue.get", "Barrier.wait",
    "SimpleQueue.get", "_worker", "Connection.recv", "SocketIO.readinto",
})
#: The pseudo-frame for CPU a thread used between two samples without being seen busy.
UNSEEN = ("<unsampled>", "(CPU between samples)", 0, 0)


def thread_is_idle(native_id: int, stack: tuple[Frame, ...]) -> bool:
    """Is the thread blocked (in I/O, a sleep or a lock wait) rather than running or
    waiting for the GIL? The kernel's wait channel says I/O or sleep; a futex wait is a
    lock wait when the Python frame says so, else the GIL."""
    try:
        with open(f"/proc/self/task/{native_id}/wchan", "rb") as f:
            wchan = f.read()
    except OSError:
        wchan = b"0"
    if wchan not in (b"0", b"") and b"futex" not in wchan:
        return True
    return bool(stack) and stack[-1][1] in IDLE_LEAVES


def native_id_of(thread: threading.Thread | None) -> int | None:
    if thread is None:
        return None
    if thread is threading.main_thread():
        # After fork (every gunicorn worker) CPython 3.11 keeps the parent's native_id on
        # the main thread; the main thread's kernel id is always the process id.
        return os.getpid()
    return thread.native_id


def _threads() -> dict[int, threading.Thread]:
    return {t.ident: t for t in threading.enumerate() if t.ident is not None}


def sample(seconds: float, hz: float = 100.0, mode: str = "cpu",
           exclude: frozenset[int] = frozenset(),
           stop: threading.Event | None = None) -> ProcessProfile:
    """Sample this process's threads for `seconds` on the calling thread.

    `exclude` holds thread idents to leave out (the request thread waiting for the result).
    Call it from a thread of its own: the caller's stack is never sampled.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    stop = stop or threading.Event()
    tick = _CpuTick() if mode == "cpu" else _WallTick()
    skip = exclude | {threading.get_ident()}
    shorten = _PathShortener()
    profile = ProcessProfile(pid=os.getpid(), mode=mode, hz=hz, started=time.time(),
                             duration=0.0)
    interval = 1.0 / hz
    # Reading /proc releases the GIL, and a CPU-bound thread then keeps it for a whole switch
    # interval (5 ms): with a few threads the sampling rate would collapse. Hand the GIL
    # back sooner while profiling.
    switch = sys.getswitchinterval()
    if mode == "cpu":
        sys.setswitchinterval(min(switch, 0.0005))
    begin = time.monotonic()
    deadline = begin + seconds
    next_tick = begin
    try:
        while True:
            threads = _threads()
            # Walk every stack before the /proc reads, which release the GIL for long.
            for ident, stack in current_stacks(skip, shorten).items():
                thread = threads.get(ident)
                name = thread.name if thread else f"thread-{ident}"
                if not name.startswith(PROFILER_THREAD_PREFIX):
                    tick.add(thread_label(name), native_id_of(thread), stack)
            now = time.monotonic()
            next_tick = max(next_tick + interval, now)  # never burst to catch up
            if now >= deadline or stop.wait(max(0.0, min(next_tick, deadline) - now)):
                break
    finally:
        sys.setswitchinterval(switch)
    profile.duration = time.monotonic() - begin
    profile.stacks = tick.stacks()
    return profile


class _WallTick:
    """Every thread counts at every sample: where threads spend wall time."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[Frame, ...]]] = Counter()

    def add(self, label: str, tid: int | None, stack: tuple[Frame, ...]) -> None:
        self.counts[(label, stack)] += 1

    def stacks(self) -> dict[tuple[str, tuple[Frame, ...]], list[int]]:
        return {key: [n, 0] for key, n in self.counts.items()}


class _CpuTick:
    """A thread counts when it used CPU since the previous sample, weighted by that CPU."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[Frame, ...]]] = Counter()
        self.cpu: Counter[tuple[str, tuple[Frame, ...]]] = Counter()
        self.last_cpu: dict[int, int] = {}
        self.last_busy: dict[int, tuple[Frame, ...]] = {}

    def add(self, label: str, tid: int | None, stack: tuple[Frame, ...]) -> None:
        now_ns = thread_cpu_ns(tid) if tid is not None else None
        if tid is None or now_ns is None:
            return
        used = now_ns - self.last_cpu.get(tid, now_ns)
        self.last_cpu[tid] = now_ns
        if used <= 0:
            self.last_busy.pop(tid, None)
            return
        if thread_is_idle(tid, stack):
            # The CPU was used before the thread went idle: where it was last seen busy,
            # or (a burst between two samples) a pseudo-frame, never the wait itself.
            previous = self.last_busy.pop(tid, None)
            stack = previous if previous is not None else stack[:1] + (UNSEEN,)
        else:
            self.last_busy[tid] = stack
        self.counts[(label, stack)] += 1
        self.cpu[(label, stack)] += used

    def stacks(self) -> dict[tuple[str, tuple[Frame, ...]], list[int]]:
        return {key: [n, self.cpu[key]] for key, n in self.counts.items()}
