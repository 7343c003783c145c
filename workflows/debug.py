"""/debug/pprof/: process profiling for operators, shaped like Go's net/http/pprof.

Off unless THAIYYAL_PPROF=1 (404 otherwise), and staff only (403): a staff session, or
`Authorization: Token <key>` of a staff user. `profile` and `threads` cover every
worker of the server (see workflows.profiling.agent); `heap`, `allocs` and `gc` describe
the worker that answers (its pid is in the reply and in the X-Worker-Pid header).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils.html import escape

from workflows.opsauth import is_staff, refused
from workflows.profiling import heap, render
from workflows.profiling.agent import gather, max_seconds
from workflows.profiling.flamegraph import render_svg
from workflows.profiling.sampler import MODES, ProcessProfile, thread_label
from workflows.profiling.threads import threads_text

View = Callable[[HttpRequest], HttpResponse]
DEFAULT_SECONDS = 30.0
MAX_HZ = 1000.0


def pprof_enabled() -> bool:
    return bool(getattr(settings, "THAIYYAL_PPROF", False))


def ops_view(view: View) -> View:
    """404 unless profiling is on, 403 unless staff; tags the reply with the worker pid."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if not pprof_enabled():
            return JsonResponse({"detail": "profiling is off (set THAIYYAL_PPROF=1)"},
                                status=404)
        if not is_staff(request):
            return refused(request, "profiling needs a staff login or a staff user's API token")
        response = view(request)
        response["X-Worker-Pid"] = str(os.getpid())
        response["Cache-Control"] = "no-store"
        return response

    return wrapper


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=400)


def _number(request: HttpRequest, name: str, default: float, low: float, high: float) -> float:
    raw = request.GET.get(name)
    if raw is None:
        return default
    value = float(raw)  # ValueError is turned into a 400 by the caller
    if not low <= value <= high:  # NaN fails this too
        raise ValueError(f"{name} must be between {low:g} and {high:g}")
    return value


ENDPOINTS = [
    ("profile", "CPU profile of every worker: ?seconds=30&hz=100&mode=cpu|wall&"
                "format=collapsed|speedscope|svg|pprof"),
    ("heap", "top live allocations by line (tracemalloc): ?top=25&diff=1&format=text|json|pprof"),
    ("threads", "every thread's stack in every worker: ?debug=1 text, ?format=pprof"),
    ("goroutine", "the same as threads (Go's name)"),
    ("allocs", "allocation totals since tracing began; ?format=pprof as heap"),
    ("gc", "garbage collector counts, thresholds and per-generation stats"),
    ("threadcreate", "threads per worker and what started them"),
    ("block", "what Python offers instead of Go's blocking profile"),
    ("mutex", "what Python offers instead of Go's mutex profile"),
]


@ops_view
def index(request: HttpRequest) -> HttpResponse:
    rows = "".join(f'<tr><td><a href="{name}">{name}</a></td><td>{escape(text)}</td></tr>'
                   for name, text in ENDPOINTS)
    page = (f"<!doctype html><title>/debug/pprof/</title><h1>/debug/pprof/</h1>"
            f"<p>Worker pid {os.getpid()}; profiles may last up to {max_seconds():g} s.</p>"
            f"<table>{rows}</table>")
    return HttpResponse(page)


@ops_view
def profile(request: HttpRequest) -> HttpResponse:
    try:
        seconds = _number(request, "seconds", DEFAULT_SECONDS, 0.05, 3600)
        hz = _number(request, "hz", 100.0, 1.0, MAX_HZ)
    except ValueError as exc:
        return _bad_request(str(exc))
    mode = request.GET.get("mode", "cpu")
    fmt = request.GET.get("format", "collapsed")
    if mode not in MODES:
        return _bad_request(f"mode must be one of {', '.join(MODES)}")
    if fmt not in ("collapsed", "speedscope", "svg", "pprof"):
        return _bad_request("format must be collapsed, speedscope, svg or pprof")
    seconds = min(seconds, max_seconds())
    replies = gather({"op": "profile", "seconds": seconds, "hz": hz, "mode": mode})
    profiles = [ProcessProfile.from_json(r) for r in replies if "error" not in r]
    if not profiles:
        busy = any(r.get("error") == "busy" for r in replies)
        return JsonResponse({"detail": "a profile is already running" if busy
                             else "no worker answered", "replies": replies},
                            status=409 if busy else 503)
    response = _render_profile(profiles, fmt, mode, seconds)
    response["X-Profile-Seconds"] = f"{seconds:g}"
    response["X-Profile-Pids"] = ",".join(str(p.pid) for p in profiles)
    response["X-Profile-Unit"] = render.weight_unit(mode)
    return response


def _render_profile(profiles: list[ProcessProfile], fmt: str, mode: str,
                    seconds: float) -> HttpResponse:
    title = (f"thaiyyal {mode} profile, {seconds:g} s, pids "
             + ", ".join(str(p.pid) for p in profiles))
    if fmt == "speedscope":
        response: HttpResponse = JsonResponse(render.speedscope(profiles, title))
        response["Content-Disposition"] = 'attachment; filename="profile.speedscope.json"'
    elif fmt == "svg":
        svg = render_svg(render.collapsed_counts(profiles), title, render.weight_unit(mode))
        response = HttpResponse(svg, content_type="image/svg+xml")
    elif fmt == "pprof":
        response = HttpResponse(render.pprof(profiles), content_type="application/octet-stream")
        response["Content-Disposition"] = 'attachment; filename="profile.pb.gz"'
    else:
        response = HttpResponse(render.collapsed(profiles), content_type="text/plain")
    return response


@ops_view
def heap_view(request: HttpRequest) -> HttpResponse:
    if request.GET.get("stop") == "1":
        heap.stop()
        return JsonResponse({"pid": os.getpid(), "tracing": False})
    fmt = request.GET.get("format", "text")
    if fmt == "pprof":
        response = HttpResponse(heap.heap_pprof(), content_type="application/octet-stream")
        response["Content-Disposition"] = 'attachment; filename="heap.pb.gz"'
        return response
    try:
        top = int(_number(request, "top", 25, 1, 1000))
    except ValueError as exc:
        return _bad_request(str(exc))
    report = heap.heap_report(top=top, diff=request.GET.get("diff") == "1")
    if fmt == "json":
        return JsonResponse(report)
    return HttpResponse(heap.heap_text(report), content_type="text/plain")


@ops_view
def threads_view(request: HttpRequest) -> HttpResponse:
    dumps = [r for r in gather({"op": "threads"}) if "error" not in r]
    if request.GET.get("format") == "pprof":
        return _threads_pprof(dumps)
    if request.GET.get("debug", "0") != "0":
        return HttpResponse(threads_text(dumps), content_type="text/plain")
    return JsonResponse({"processes": dumps, "count": sum(d["count"] for d in dumps)})


def _threads_pprof(dumps: list[dict[str, Any]]) -> HttpResponse:
    from workflows.profiling.pprof import PprofFrame, ProfileBuilder

    builder = ProfileBuilder([("threads", "count")])
    for dump in dumps:
        for thread in dump["threads"]:
            frames = [PprofFrame(f["function"], f["file"], f["line"], f["line"])
                      for f in reversed(thread["stack"])]
            builder.add(frames, [1], labels={"thread": thread_label(thread["name"])},
                        num_labels={"pid": dump["pid"]})
    builder.time_nanos = time.time_ns()
    response = HttpResponse(builder.encode(), content_type="application/octet-stream")
    response["Content-Disposition"] = 'attachment; filename="threads.pb.gz"'
    return response


@ops_view
def allocs(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "pprof":
        response = HttpResponse(heap.heap_pprof(), content_type="application/octet-stream")
        response["Content-Disposition"] = 'attachment; filename="allocs.pb.gz"'
        return response
    return JsonResponse(heap.allocs_summary())


@ops_view
def gc_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({
        "pid": os.getpid(), "enabled": gc.isenabled(), "counts": gc.get_count(),
        "thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count(),
        "uncollectable_garbage": len(gc.garbage),
        "generations": gc.get_stats(), "objects": len(gc.get_objects()),
    })


@ops_view
def threadcreate(request: HttpRequest) -> HttpResponse:
    dumps = [r for r in gather({"op": "threads"}) if "error" not in r]
    return JsonResponse({
        "processes": [{"pid": d["pid"], "threads": d["count"],
                       "by_name": Counter(thread_label(t["name"]) for t in d["threads"])}
                      for d in dumps],
        "this_process_active": threading.active_count(),
        "note": "Python threads are created by code, not by the runtime: the counts by name "
                "show which pool started them; /debug/pprof/threads shows what each one "
                "is doing. A count that grows under steady load is a leak.",
    })


def _instead(what: str) -> View:
    notes = {
        "block": "CPython has no blocking profile. Use profile?mode=wall: it samples every "
                 "thread whether running or waiting, so time blocked on sockets, locks and "
                 "sleeps shows at the frames that wait (threading.py wait, socket recv).",
        "mutex": "CPython has no mutex contention profile. Lock waits appear in "
                 "profile?mode=wall under threading.Lock.acquire / Condition.wait; the GIL "
                 "itself is not visible: compare profile?mode=cpu with wall time.",
    }

    @ops_view
    def view(request: HttpRequest) -> HttpResponse:
        return JsonResponse({"profile": what, "available": False, "note": notes[what],
                             "see": ["/debug/pprof/profile?mode=wall", "/debug/pprof/threads"]})

    view.__name__ = f"{what}_view"
    return view


urlpatterns = [
    path("", index, name="pprof-index"),
    path("profile", profile, name="pprof-profile"),
    path("heap", heap_view, name="pprof-heap"),
    path("threads", threads_view, name="pprof-threads"),
    path("goroutine", threads_view, name="pprof-goroutine"),
    path("allocs", allocs, name="pprof-allocs"),
    path("gc", gc_view, name="pprof-gc"),
    path("threadcreate", threadcreate, name="pprof-threadcreate"),
    path("block", _instead("block"), name="pprof-block"),
    path("mutex", _instead("mutex"), name="pprof-mutex"),
]
