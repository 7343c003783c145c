"""/debug/pprof/ in-process: gating, and every endpoint's output (one worker, no agents)."""

from __future__ import annotations

import json
import threading
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from django.test import override_settings

from tests.observability.protodecode import read_profile
from workflows.profiling import heap

pytestmark = pytest.mark.django_db
ENDPOINTS = ["", "profile?seconds=0.1", "heap", "threads", "goroutine", "allocs", "gc",
             "threadcreate", "block", "mutex"]


@pytest.fixture
def pprof_on() -> Iterator[None]:
    with override_settings(THAIYYAL_PPROF=True):
        yield
    if tracemalloc.is_tracing():
        heap.stop()  # tracing slows every allocation: never leak it into other tests


def spin_in_named_thread(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(3000))


@pytest.fixture
def busy_thread() -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=spin_in_named_thread, args=(stop,), name="spinner",
                              daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_profiling_is_off_unless_enabled(staff_api, endpoint):
    response = staff_api.get(f"/debug/pprof/{endpoint}")
    assert response.status_code == 404
    assert "THAIYYAL_PPROF=1" in response.json()["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_profiling_is_for_staff_only(pprof_on, client, api, endpoint):
    assert client.get(f"/debug/pprof/{endpoint}").status_code == 403
    assert api.get(f"/debug/pprof/{endpoint}").status_code == 403


def test_index_links_every_endpoint(pprof_on, staff_session):
    response = staff_session.get("/debug/pprof/")
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("profile", "heap", "threads", "goroutine", "allocs", "gc", "threadcreate",
                 "block", "mutex"):
        assert f'<a href="{name}">' in page
    assert response["X-Worker-Pid"].isdigit()


def test_cpu_profile_returns_collapsed_stacks_of_busy_threads(pprof_on, staff_api, busy_thread):
    response = staff_api.get("/debug/pprof/profile?seconds=0.5")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Profile-Unit"] == "microseconds"
    text = response.content.decode()
    assert "spinner;" in text
    assert "spin_in_named_thread (tests/observability/test_debug_views.py:" in text
    for line in text.splitlines():
        stack, weight = line.rsplit(" ", 1)
        assert int(weight) > 0
        assert ";" in stack


def test_wall_profile_shows_the_waiting_request_thread_is_left_out(pprof_on, staff_api):
    text = staff_api.get("/debug/pprof/profile?seconds=0.2&mode=wall").content.decode()
    assert "workflows/debug.py" not in text  # the thread serving this request waits: hidden


def test_profile_as_speedscope_svg_and_pprof(pprof_on, staff_api, busy_thread):
    speed = staff_api.get("/debug/pprof/profile?seconds=0.3&format=speedscope")
    doc = json.loads(speed.content)
    names = {doc["shared"]["frames"][i]["name"] for p in doc["profiles"] for s in p["samples"]
             for i in s}
    assert "spin_in_named_thread" in names
    svg = staff_api.get("/debug/pprof/profile?seconds=0.3&format=svg")
    assert svg["Content-Type"] == "image/svg+xml"
    assert "spin_in_named_thread" in svg.content.decode()
    ET.fromstring(svg.content)
    raw = staff_api.get("/debug/pprof/profile?seconds=0.3&format=pprof")
    assert raw["Content-Disposition"] == 'attachment; filename="profile.pb.gz"'
    decoded = read_profile(raw.content)
    assert decoded["sample_types"] == [("samples", "count"), ("cpu", "nanoseconds")]
    assert any(f[0] == "spin_in_named_thread" for s in decoded["samples"] for f in s["stack"])


@pytest.mark.parametrize(("query", "message"), [
    ("seconds=abc", "could not convert"),
    ("seconds=0", "seconds must be between"),
    ("hz=5000", "hz must be between"),
    ("mode=gpu", "mode must be one of cpu, wall"),
    ("format=png", "format must be collapsed, speedscope, svg or pprof"),
])
def test_bad_profile_parameters_are_a_400_saying_why(pprof_on, staff_api, query, message):
    response = staff_api.get(f"/debug/pprof/profile?{query}")
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_profile_length_is_capped(pprof_on, staff_api, monkeypatch):
    monkeypatch.setenv("THAIYYAL_PPROF_MAX_SECONDS", "0.2")
    response = staff_api.get("/debug/pprof/profile?seconds=600")
    assert response.status_code == 200
    assert response["X-Profile-Seconds"] == "0.2"


class Hoard:
    """Something that allocates from a line this test can name."""

    def __init__(self) -> None:
        self.items = [bytearray(512) for _ in range(4000)]  # the growing line


def test_heap_lists_top_lines_and_diff_shows_growth(pprof_on, staff_api):
    first = staff_api.get("/debug/pprof/heap").content.decode()
    assert "tracing started by this request" in first
    hoard = Hoard()
    diff = staff_api.get("/debug/pprof/heap?diff=1&top=10").content.decode()
    assert "growth since the previous heap request" in diff
    assert "test_debug_views.py" in diff
    assert "the growing line" in diff
    as_json = staff_api.get("/debug/pprof/heap?format=json").json()
    assert as_json["traced_bytes"] > 2_000_000
    assert {"file", "line", "size_bytes", "count", "code"} <= set(as_json["top"][0])
    decoded = read_profile(staff_api.get("/debug/pprof/heap?format=pprof").content)
    assert decoded["sample_types"] == [("inuse_objects", "count"), ("inuse_space", "bytes")]
    assert sum(s["values"][1] for s in decoded["samples"]) > 2_000_000
    assert staff_api.get("/debug/pprof/heap?stop=1").json()["tracing"] is False
    assert not tracemalloc.is_tracing()
    del hoard


def test_threads_dump_every_thread(pprof_on, staff_api, busy_thread):
    dump = staff_api.get("/debug/pprof/threads").json()
    names = {t["name"] for p in dump["processes"] for t in p["threads"]}
    assert "spinner" in names
    text = staff_api.get("/debug/pprof/goroutine?debug=1").content.decode()
    assert "thread 'spinner'" in text
    assert "in spin_in_named_thread" in text
    decoded = read_profile(staff_api.get("/debug/pprof/threads?format=pprof").content)
    assert decoded["sample_types"] == [("threads", "count")]
    assert any(s["labels"].get("thread") == "spinner" for s in decoded["samples"])


def test_gc_allocs_threadcreate_block_and_mutex_answer_json(pprof_on, staff_api):
    gc_stats = staff_api.get("/debug/pprof/gc").json()
    assert len(gc_stats["generations"]) == 3
    assert len(gc_stats["thresholds"]) == 3
    allocs = staff_api.get("/debug/pprof/allocs").json()
    assert "tracemalloc" in allocs["note"]
    created = staff_api.get("/debug/pprof/threadcreate").json()
    assert created["processes"][0]["threads"] >= 1
    for name in ("block", "mutex"):
        body = staff_api.get(f"/debug/pprof/{name}").json()
        assert body["available"] is False
        assert "profile?mode=wall" in body["note"]
