"""The sampling profiler and its output formats, in-process (no server needed)."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from tests.observability.protodecode import read_profile
from workflows.profiling import render
from workflows.profiling.flamegraph import render_svg
from workflows.profiling.pprof import Message, PprofFrame, ProfileBuilder, varint
from workflows.profiling.sampler import (
    MAX_DEPTH,
    ProcessProfile,
    _PathShortener,
    current_stacks,
    sample,
    stack_of,
    thread_label,
)


def burn_cpu(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(2000))


def wait_idly(stop: threading.Event) -> None:
    stop.wait()


@pytest.fixture
def busy_and_idle() -> Iterator[tuple[threading.Thread, threading.Thread]]:
    stop = threading.Event()
    busy = threading.Thread(target=burn_cpu, args=(stop,), name="burner-1", daemon=True)
    idle = threading.Thread(target=wait_idly, args=(stop,), name="sleeper", daemon=True)
    busy.start()
    idle.start()
    yield busy, idle
    stop.set()
    busy.join()
    idle.join()


def test_cpu_profile_shows_the_busy_thread_and_leaves_idle_ones_out(busy_and_idle):
    profile = sample(0.6, hz=100, mode="cpu")
    text = render.collapsed([profile])
    assert "burner;" in text  # thread names lose their numbers: pools merge
    assert "burn_cpu (tests/observability/test_profiling.py:" in text
    assert "wait_idly" not in text
    cpu_ns = sum(w[1] for (thread, _), w in profile.stacks.items() if thread == "burner")
    # Stacks are whole: captured before the sampler lets the busy thread run on.
    assert {frames[0][1] for thread, frames in profile.stacks if thread == "burner"} == {
        "Thread._bootstrap"}
    # The burner shares the GIL with this test's thread, so it gets some of 0.6 s, not all.
    assert 0.05e9 < cpu_ns < 0.7e9


def test_wall_profile_counts_waiting_threads_at_about_the_requested_rate(busy_and_idle):
    profile = sample(1.0, hz=100, mode="wall")
    per_thread: dict[str, int] = {}
    for (thread, _frames), (samples, _cpu) in profile.stacks.items():
        per_thread[thread] = per_thread.get(thread, 0) + samples
    assert "sleeper" in per_thread
    assert 30 <= per_thread["sleeper"] <= 105  # fewer when the machine is busy
    waiting = [f for (thread, frames) in profile.stacks if thread == "sleeper" for f in frames]
    assert any(f[1] == "wait_idly" for f in waiting)
    assert any(f[1] == "Event.wait" for f in waiting)


def test_the_calling_thread_and_excluded_threads_are_not_sampled(busy_and_idle):
    busy, _ = busy_and_idle
    profile = sample(0.2, hz=100, mode="wall", exclude=frozenset({busy.ident}))
    threads = {thread for thread, _ in profile.stacks}
    assert "burner" not in threads
    assert "MainThread" not in threads  # the caller: it is busy running the sampler


def test_a_profile_stops_early_when_asked():
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    sample(30, hz=50, mode="wall", stop=stop)
    assert time.monotonic() - started < 2


def test_deep_stacks_keep_the_innermost_frames():
    stop = threading.Event()
    ready = threading.Event()

    def recurse(n: int) -> None:
        if n == 0:
            ready.set()
            stop.wait()
        else:
            recurse(n - 1)

    t = threading.Thread(target=recurse, args=(MAX_DEPTH + 50,), name="deep", daemon=True)
    t.start()
    ready.wait(5)
    try:
        profile = sample(0.05, hz=100, mode="wall")
    finally:
        stop.set()
        t.join()
    stacks = [frames for thread, frames in profile.stacks if thread == "deep"]
    assert stacks
    assert all(len(frames) == MAX_DEPTH for frames in stacks)
    names = [f[1] for f in stacks[0]]
    assert names[-2:] == ["Event.wait", "Condition.wait"]
    assert names[0] == "test_deep_stacks_keep_the_innermost_frames.<locals>.recurse"


def suspended_generator_frame() -> tuple[object, object]:
    """A generator suspended at its yield, and its frame: the frame a stack walk reaches
    when the generator yields while the walk is under way (its callers are gone)."""
    def gen():
        yield sys._getframe()

    generator = gen()
    return generator, next(generator)


def test_a_walk_that_ends_on_a_suspended_generator_says_the_stack_is_cut():
    _generator, frame = suspended_generator_frame()
    stack, whole = stack_of(frame, _PathShortener())
    assert [f[1] for f in stack] == ["suspended_generator_frame.<locals>.gen"]
    assert not whole
    stack, whole = stack_of(sys._getframe(), _PathShortener())
    assert whole
    assert stack[-1][1] == "test_a_walk_that_ends_on_a_suspended_generator_says_the_stack_is_cut"


def test_a_cut_stack_is_walked_again_from_a_fresh_snapshot():
    # The first snapshot caught thread 1 in a generator that was suspended mid-walk; the
    # next one sees its whole stack (here: this test's frame), which is kept.
    _generator, cut_frame = suspended_generator_frame()
    snapshots = iter([{1: cut_frame, 2: sys._getframe()}, {1: sys._getframe()}])
    stacks = current_stacks(set(), _PathShortener(), lambda: next(snapshots))
    assert stacks[1] == stacks[2]
    assert stacks[1][-1][1] == "test_a_cut_stack_is_walked_again_from_a_fresh_snapshot"
    # Still cut at the last attempt: kept as it is rather than lost.
    snapshots = iter([{1: cut_frame}] * 3)
    assert current_stacks(set(), _PathShortener(), lambda: next(snapshots))[1][0][1] == (
        "suspended_generator_frame.<locals>.gen")


def test_thread_labels_merge_pool_threads():
    assert thread_label("ThreadPoolExecutor-3_1") == "ThreadPoolExecutor"
    assert thread_label("ThreadPoolExecutor-12_0") == "ThreadPoolExecutor"
    assert thread_label("MainThread") == "MainThread"


def _synthetic() -> ProcessProfile:
    profile = ProcessProfile(pid=42, mode="cpu", hz=100, started=1_700_000_000.0, duration=1.0)
    main = ("app.py", "main", 1, 3)
    profile.stacks = {
        ("MainThread", (main, ("app.py", "work", 10, 12))): [30, 30_000_000],
        ("MainThread", (main, ("app.py", "work", 10, 14))): [10, 10_000_000],
        ("MainThread", (main, ("lib.py", "Parser.parse;x", 5, 6))): [20, 20_000_000],
    }
    return profile


def test_collapsed_output_is_one_weighted_stack_per_line_heaviest_first():
    lines = render.collapsed([_synthetic()]).splitlines()
    # Both lines of `work` fold into one function frame; ';' in a name cannot split frames.
    assert lines == ["MainThread;main (app.py:1);work (app.py:10) 40000",
                     "MainThread;main (app.py:1);Parser.parse:x (lib.py:5) 20000"]
    for line in lines:
        assert re.fullmatch(r"[^;]+(;[^;]+)+ \d+", line)


def test_profiles_of_several_workers_merge_into_one_collapsed_set():
    a, b = _synthetic(), _synthetic()
    b.pid = 43
    counts = render.collapsed_counts([a, b])
    assert counts["MainThread;main (app.py:1);work (app.py:10)"] == 80_000


def test_speedscope_file_indexes_its_frames_and_weights():
    doc = render.speedscope([_synthetic()], "test")
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    (prof,) = doc["profiles"]
    frames = doc["shared"]["frames"]
    assert prof["type"] == "sampled"
    assert prof["unit"] == "microseconds"
    assert len(prof["samples"]) == len(prof["weights"]) == 3
    assert prof["endValue"] == sum(prof["weights"]) == 60_000
    for stack in prof["samples"]:
        assert frames[stack[0]]["name"] == "main"  # root first
    assert json.loads(json.dumps(doc)) == doc


def test_svg_flame_graph_draws_frames_in_proportion_to_their_weight():
    svg = render_svg({"root;left": 3, "root;right": 1}, "t <&>", "samples")
    doc = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    titles = {g.find(f"{ns}title").text: g.find(f"{ns}rect") for g in doc.iter(f"{ns}g")}
    assert set(titles) == {"all (4 samples, 100.00%)", "root (4 samples, 100.00%)",
                           "left (3 samples, 75.00%)", "right (1 samples, 25.00%)"}
    left = float(titles["left (3 samples, 75.00%)"].get("width"))
    right = float(titles["right (1 samples, 25.00%)"].get("width"))
    assert left == pytest.approx(3 * right, rel=1e-3)
    # Callees sit above their callers.
    assert float(titles["left (3 samples, 75.00%)"].get("y")) < float(
        titles["root (4 samples, 100.00%)"].get("y"))
    assert "t &lt;&amp;&gt;" in svg


def test_empty_flame_graph_says_so():
    assert "no samples" in render_svg({}, "empty", "samples")


def test_varints_match_the_protobuf_encoding():
    assert varint(0) == b"\x00"
    assert varint(1) == b"\x01"
    assert varint(300) == b"\xac\x02"
    assert varint(-1) == b"\xff" * 9 + b"\x01"
    assert bytes(Message().number(1, 0).buf) == b""  # proto3 zero values are not written


def test_pprof_profile_decodes_back_to_the_same_stacks_values_and_labels():
    decoded = read_profile(render.pprof([_synthetic()]))
    assert decoded["sample_types"] == [("samples", "count"), ("cpu", "nanoseconds")]
    assert decoded["period"] == 10_000_000
    assert decoded["duration_nanos"] == 1_000_000_000
    assert decoded["time_nanos"] == 1_700_000_000 * 10**9
    by_leaf = {(s["stack"][0][0], s["stack"][0][2]): s for s in decoded["samples"]}
    work = by_leaf[("work", 12)]
    assert work["values"] == [30, 30_000_000]
    assert work["stack"] == [("work", "app.py", 12), ("main", "app.py", 3)]  # leaf first
    assert work["labels"] == {"thread": "MainThread", "pid": 42}
    assert by_leaf[("work", 14)]["values"] == [10, 10_000_000]
    assert "pids 42" in decoded["comments"][0]


def test_pprof_builder_shares_functions_and_locations_between_samples():
    builder = ProfileBuilder([("samples", "count")])
    frame = PprofFrame("f", "f.py", 1, 2)
    builder.add([frame], [1])
    builder.add([frame, PprofFrame("g", "g.py", 5, 5)], [2])
    assert len(builder.functions) == 2
    assert len(builder.locations) == 2
    decoded = read_profile(builder.encode())
    assert [s["values"] for s in decoded["samples"]] == [[1], [2]]


def test_a_real_profile_converts_to_every_format(busy_and_idle):
    profile = sample(0.3, hz=200, mode="cpu")
    assert render.collapsed([profile])
    decoded = read_profile(render.pprof([profile]))
    leaves = {s["stack"][0][0] for s in decoded["samples"]}
    assert leaves & {"burn_cpu", "burn_cpu.<locals>.<genexpr>"}
    ET.fromstring(render_svg(render.collapsed_counts([profile]), "x", "microseconds"))
    assert ProcessProfile.from_json(json.loads(json.dumps(profile.to_json()))) == profile


def test_cpu_profile_sees_the_main_thread_of_a_forked_worker():
    # gunicorn workers are forked; CPython 3.11 leaves the parent's native_id on the child's
    # main thread, and a CPU profile must still find the main thread's CPU time.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: burn CPU on the main thread while a thread samples
        try:
            box: list[str] = []
            t = threading.Thread(target=lambda: box.append(
                render.collapsed([sample(0.4, hz=100, mode="cpu")])))
            t.start()
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                sum(i * i for i in range(2000))
            t.join()
            os.write(write_end, box[0].encode()[:60_000])
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    assert "MainThread;" in text
    assert "test_cpu_profile_sees_the_main_thread_of_a_forked_worker" in text
