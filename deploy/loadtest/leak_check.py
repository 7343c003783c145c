"""Memory and leak check (`make leak-check`): 20,000 requests against a live server.

Starts `thaiyyal serve` on a fresh PostgreSQL database (as `make bench-api` does), warms
it up (15,000 requests), then sends 20,000 requests with wrk, alternating ad-hoc, stored,
failing and 50-node workflows, and prints each worker's RSS and thread count before and
after.
Targets: RSS growth < 10 MB per worker, no thread growth. Exit status 1 when missed.

    python deploy/loadtest/leak_check.py [--requests 20000] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import bench_api as bench

GROWTH_LIMIT_MB = 10.0
FAILING = {"nodes": [
    {"id": "a", "type": "number", "data": {"value": 1}},
    {"id": "b", "type": "number", "data": {"value": 0}},
    {"id": "div", "type": "operation", "data": {"op": "divide"}}],
    "edges": [{"source": "a", "target": "div"}, {"source": "b", "target": "div"}]}


def worker_stats(master_pid: int) -> dict[int, tuple[float, int]]:
    """pid -> (RSS in MB, threads) of each live worker."""
    stats = {}
    for pid in bench._children(master_pid):
        values = {}
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    key, _, rest = line.partition(":")
                    values[key] = rest.split()
        except OSError:
            continue
        stats[pid] = (int(values["VmRSS"][0]) / 1024, int(values["Threads"][0]))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    # Workers' RSS climbs for the first ~13,000 requests (allocator arenas, per-worker
    # caches of loaded workflows, compiled expressions and statements) and then levels
    # off: measured after 2,000 requests of warm-up, 40,000 requests grew 7.6-8.8 MB,
    # all of it in the first 13,000. Warm up past that, then measure.
    parser.add_argument("--warmup", type=int, default=15_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed. Install it (Debian/Ubuntu): apt-get install -y wrk",
              file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="thaiyyal-leak-"))
    bodies = {"fmr50": bench.fmr_workflow(), "failing": FAILING}
    for name, body in bodies.items():
        (workdir / f"{name}.json").write_text(json.dumps(body))
    (workdir / "empty.json").write_text("{}")
    with bench.fresh_database(keep=False) as database_url:
        env = bench.server_env(database_url, workdir)
        info = bench.set_up_database(env)
        token = info["token"]
        server = bench.Server("leak", bench.free_port(), workdir / "server.log")
        try:
            server.start(dict(env, THAIYYAL_RECORD_ADHOC_RUNS="1"), args.workers)
            server.wait_ready()
            assert server.process is not None
            c = args.connections
            stored = f"/api/v1/workflows/{info['workflow_id']}/execute"
            base = server.base
            scenarios = [
                bench.Scenario(name, base, path, body, c, token, server)
                for name, path, body in [
                    ("adhoc", bench.EXECUTE, bench.WORKFLOW),
                    ("stored", stored, workdir / "empty.json"),
                    ("failing", bench.EXECUTE, workdir / "failing.json"),
                    ("fmr50", bench.EXECUTE, workdir / "fmr50.json"),
                ]]
            pid = server.process.pid
            drive(scenarios, token, args.warmup, pid)
            before = worker_stats(pid)
            sent = drive(scenarios, token, args.requests, pid)
            after = worker_stats(pid)
        finally:
            server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    return report(before, after, sent)


def drive(scenarios: list[bench.Scenario], token: str, total: int,
          master_pid: int) -> dict[str, int]:
    """Send at least `total` requests, 2-second wrk bursts in turn over the scenarios;
    answers that are not the expected status are counted. Prints progress: requests so
    far and the workers' mean RSS (a leak climbs steadily; warm-up levels off)."""
    sent = {"requests": 0, "unexpected": 0}
    while sent["requests"] < total:
        stats = worker_stats(master_pid).values()
        mean_rss = sum(rss for rss, _ in stats) / max(1, len(stats))
        print(f"  {sent['requests']:>6} / {total} requests, mean worker RSS {mean_rss:.1f} MB",
              flush=True)
        for scenario in scenarios:
            result = bench.run_wrk(scenario, 2, 2)
            sent["requests"] += result["requests"]
            # the failing workflow answers 422 by design; anything else must be 2xx
            if scenario.name != "failing":
                sent["unexpected"] += result["non2xx"]
            if sent["requests"] >= total:
                break
    return sent


def report(before: dict[int, tuple[float, int]], after: dict[int, tuple[float, int]],
           sent: dict[str, int]) -> int:
    print(f"{sent['requests']} requests measured; unexpected statuses: {sent['unexpected']}")
    print(f"{'worker':>8} {'RSS before MB':>14} {'after MB':>9} {'growth MB':>10} "
          f"{'threads before':>15} {'after':>6}")
    ok = sent["unexpected"] == 0
    for pid in sorted(before):
        if pid not in after:
            print(f"{pid:>8} recycled during the check (max_requests): not comparable")
            continue
        (rss0, threads0), (rss1, threads1) = before[pid], after[pid]
        grew = rss1 - rss0
        ok &= grew < GROWTH_LIMIT_MB and threads1 <= threads0
        print(f"{pid:>8} {rss0:>14.1f} {rss1:>9.1f} {grew:>10.2f} {threads0:>15} {threads1:>6}")
    print(f"target: growth < {GROWTH_LIMIT_MB:g} MB per worker, no thread growth: "
          f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
