"""Queue-mode benchmark (`make bench-queue`): async throughput of a CPU-bound workflow
with one worker process and with two, and the queue wait at that load.

Creates a fresh PostgreSQL database (as bench_api.py does), starts `thaiyyal serve` and,
in turn, `thaiyyal worker --concurrency 1` and `--concurrency 2` on the machine's
RabbitMQ (THAIYYAL_BROKER_URL, default amqp://guest:guest@127.0.0.1:5672//, on a queue of
its own). For each: RUNS runs are queued (`Prefer: respond-async`) before the worker
starts, so that only the workers' work is timed; throughput is runs / (last finish -
first start), read from the runs' rows. Then, with two processes, runs are submitted at
80% of that throughput for --paced seconds and the queue wait (started_at - queued_at)
p50/p95 is printed.

    python deploy/loadtest/bench_queue.py [--runs 60] [--paced 15] [--branches 300]

The workflow: bench_api.fmr_workflow (filter -> map -> reduce chains over a range), pure
CPU, about --branches x 0.25 ms per run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import (  # noqa: E402 - this directory's own module
    ROOT,
    Server,
    fmr_workflow,
    free_port,
    fresh_database,
    server_env,
    set_up_database,
)

BROKER = os.environ.get("THAIYYAL_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
THAIYYAL = str(Path(sys.executable).with_name("thaiyyal"))


def submit(base: str, token: str, body: bytes) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/workflow/execute", data=body, method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json",
                 "Prefer": "respond-async"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202, response.status
            return str(json.loads(response.read())["id"])
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"an async execute answered {exc.code}: "
                         f"{exc.read()[:500].decode(errors='replace')}") from None


def rows(url: str, ids: list[str]) -> list[tuple[str, float, float, float]]:
    """(status, queued_at, started_at, finished_at) of the runs, as epoch seconds."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        found = conn.execute(
            "SELECT status, extract(epoch from queued_at), extract(epoch from started_at), "
            "extract(epoch from finished_at) FROM workflows_run WHERE id = ANY(%s::uuid[])",
            [ids]).fetchall()
    return [(s, float(q), float(st), float(f) if f is not None else 0.0)
            for s, q, st, f in found]


def wait_done(url: str, ids: list[str], timeout: float = 600) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rows(url, ids)
        if len(found) == len(ids) and all(r[0] not in ("queued", "running") for r in found):
            return found
        time.sleep(0.2)
    raise SystemExit(f"runs did not finish within {timeout:g}s")


def start_worker(env: dict[str, str], processes: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([THAIYYAL, "worker", "--concurrency", str(processes)],
                               env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("worker did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def queue_runs(base: str, token: str, body: bytes, runs: int) -> list[str]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: submit(base, token, body), range(runs)))


def throughput(url: str, ids: list[str]) -> tuple[float, float]:
    """(runs per second, mean run time in ms) of runs that were queued before the worker
    started: the web tier's work of queueing them is not in the window."""
    found = wait_done(url, ids)
    assert all(r[0] == "succeeded" for r in found), {r[0] for r in found}
    span = max(r[3] for r in found) - min(r[2] for r in found)
    mean_ms = statistics.mean(r[3] - r[2] for r in found) * 1000
    return len(ids) / span, mean_ms


def paced(url: str, base: str, token: str, body: bytes, rate: float,
          seconds: float) -> list[float]:
    """Queue waits (ms) of runs submitted at `rate` per second for `seconds`."""
    ids = []
    start = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        futures = []
        n = 0
        while time.monotonic() - start < seconds:
            due = start + n / rate
            time.sleep(max(0.0, due - time.monotonic()))
            futures.append(pool.submit(submit, base, token, body))
            n += 1
        ids = [f.result() for f in futures]
    found = wait_done(url, ids)
    return sorted((r[2] - r[1]) * 1000 for r in found)


def delete_queue(name: str) -> None:
    """The benchmark's queue (and its exchange) go with it."""
    from kombu import Connection

    with Connection(BROKER, connect_timeout=2) as connection, connection.channel() as channel:
        channel.queue_delete(name)
        channel.exchange_delete(name)  # Celery declares one per queue


def _spin(seconds: float) -> int:
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n


def machine_scaling(seconds: float = 2.0) -> float:
    """What the machine itself gives two processes of pure CPU against one, now (other
    load on the cores lowers it): the ceiling for the workers' ratio."""
    from multiprocessing import Pool

    with Pool(2) as pool:
        start = time.perf_counter()
        pool.map(_spin, [seconds])
        one = time.perf_counter() - start
        start = time.perf_counter()
        pool.map(_spin, [seconds, seconds])
        two = time.perf_counter() - start
    return 2 * one / two


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--paced", type=float, default=15.0, help="seconds of paced load")
    parser.add_argument("--branches", type=int, default=300, help="workflow size (CPU)")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    body = json.dumps(fmr_workflow(args.branches, 1000)).encode()
    workdir = Path(tempfile.mkdtemp(prefix="thaiyyal-bench-queue-"))
    with fresh_database(args.keep_database) as url:
        env = {**server_env(url, workdir), "THAIYYAL_BROKER_URL": BROKER,
               "THAIYYAL_QUEUE": f"thaiyyal-bench-{secrets.token_hex(4)}"}
        token = set_up_database(env)["token"]
        server = Server("web", free_port(), workdir / "web.log")
        server.start(env, workers=2)
        results: dict[int, tuple[float, float]] = {}
        try:
            server.wait_ready()
            for processes in (1, 2):
                ids = queue_runs(server.base, token, body, args.runs)
                worker = start_worker(env, processes, workdir / f"worker{processes}.log")
                try:
                    results[processes] = throughput(url, ids)
                    rate, mean_ms = results[processes]
                    print(f"{processes} worker process(es): {rate:.1f} runs/s "
                          f"({args.runs} runs, {mean_ms:.0f} ms each on average)", flush=True)
                    if processes == 2:
                        waits = paced(url, server.base, token, body, 0.8 * rate, args.paced)
                        p50 = waits[len(waits) // 2]
                        p95 = waits[min(len(waits) - 1, int(len(waits) * 0.95))]
                        print(f"queue wait at {0.8 * rate:.1f} runs/s (80% of two processes' "
                              f"throughput, {len(waits)} runs): p50 {p50:.0f} ms, "
                              f"p95 {p95:.0f} ms", flush=True)
                finally:
                    stop(worker)
        finally:
            server.stop()
            delete_queue(env["THAIYYAL_QUEUE"])
    ratio = results[2][0] / results[1][0]
    print(f"two processes / one: {ratio:.2f}x (target >= 1.7x on 2 cores: "
          f"{'met' if ratio >= 1.7 else 'NOT met'})")
    print(f"the machine now: two CPU-bound processes get {machine_scaling():.2f}x the work "
          f"of one (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
