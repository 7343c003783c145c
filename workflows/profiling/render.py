"""Text formats of a profile: collapsed stacks (flamegraph.pl, speedscope, inferno) and
speedscope's JSON. Frames are shown per function: "qualname (file:first line)".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from workflows.profiling.pprof import PprofFrame, ProfileBuilder
from workflows.profiling.sampler import Frame, ProcessProfile


def frame_label(frame: Frame) -> str:
    filename, name, first_line, _line = frame
    # ';' separates frames and a trailing number is the count in the collapsed format.
    return f"{name} ({filename}:{first_line})".replace(";", ":").replace("\n", " ")


def weight_unit(mode: str) -> str:
    """cpu profiles weigh stacks by CPU microseconds; wall profiles count samples."""
    return "microseconds" if mode == "cpu" else "samples"


def _weight(mode: str, weights: list[int]) -> int:
    samples, cpu_ns = weights
    return max(1, round(cpu_ns / 1000)) if mode == "cpu" else samples


def collapsed_counts(profiles: Iterable[ProcessProfile]) -> Counter[str]:
    """Merged over processes: "thread;outer (f.py:1);inner (g.py:9)" -> weight."""
    counts: Counter[str] = Counter()
    for profile in profiles:
        for (thread, frames), weights in profile.stacks.items():
            path = ";".join([thread.replace(";", ":"), *map(frame_label, frames)])
            counts[path] += _weight(profile.mode, weights)
    return counts


def collapsed(profiles: Iterable[ProcessProfile]) -> str:
    """Brendan Gregg's folded format, heaviest stacks first."""
    counts = collapsed_counts(profiles)
    return "".join(f"{path} {n}\n" for path, n in counts.most_common())


def speedscope(profiles: list[ProcessProfile], name: str) -> dict[str, Any]:
    """A speedscope file: one sampled profile per process and thread group."""
    frame_index: dict[tuple[str, str, int], int] = {}
    frames: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []

    def index(frame: Frame) -> int:
        key = (frame[0], frame[1], frame[2])
        if key not in frame_index:
            frame_index[key] = len(frames)
            frames.append({"name": frame[1], "file": frame[0], "line": frame[2]})
        return frame_index[key]

    for profile in profiles:
        unit = "microseconds" if profile.mode == "cpu" else "none"
        by_thread: dict[str, tuple[list[list[int]], list[int]]] = {}
        for (thread, stack), weights in sorted(profile.stacks.items()):
            samples, sample_weights = by_thread.setdefault(thread, ([], []))
            samples.append([index(f) for f in stack])
            sample_weights.append(_weight(profile.mode, weights))
        for thread, (samples, sample_weights) in by_thread.items():
            total = sum(sample_weights)
            out.append({"type": "sampled", "name": f"pid {profile.pid} {thread}",
                        "unit": unit, "startValue": 0, "endValue": total,
                        "samples": samples, "weights": sample_weights})
    out.sort(key=lambda p: -p["endValue"])
    return {"$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": frames}, "profiles": out, "name": name,
            "activeProfileIndex": 0, "exporter": "thaiyyal /debug/pprof/profile"}


def _pprof_name(name: str, filename: str) -> str:
    # pprof drops a name like "<module>" as if it were C++ template arguments.
    return f"{filename}:{name[1:-1]}" if name.startswith("<") else name


def pprof(profiles: list[ProcessProfile]) -> bytes:
    """A gzipped profile.proto for `pprof` / `go tool pprof`: stacks with their thread and
    pid as labels; values are samples and CPU (or wall) nanoseconds."""
    mode = profiles[0].mode if profiles else "cpu"
    hz = profiles[0].hz if profiles else 100.0
    period = int(1e9 / hz)
    time_type = "cpu" if mode == "cpu" else "wall"
    builder = ProfileBuilder([("samples", "count"), (time_type, "nanoseconds")],
                             period_type=(time_type, "nanoseconds"), period=period)
    builder.comment(f"thaiyyal {mode} profile, {hz:g} Hz, pids "
                    + ", ".join(str(p.pid) for p in profiles))
    for profile in profiles:
        for (thread, frames), (samples, cpu_ns) in profile.stacks.items():
            stack = [PprofFrame(_pprof_name(name, filename), filename, first, line)
                     for filename, name, first, line in reversed(frames)]
            nanos = cpu_ns if mode == "cpu" else samples * period
            builder.add(stack, [samples, nanos], labels={"thread": thread},
                        num_labels={"pid": profile.pid})
    if profiles:
        builder.time_nanos = int(min(p.started for p in profiles) * 1e9)
        builder.duration_nanos = int(max(p.duration for p in profiles) * 1e9)
    return builder.encode()
