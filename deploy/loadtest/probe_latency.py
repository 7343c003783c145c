"""Probe latency with every worker busy: the probe port against the main port.

Creates a fresh PostgreSQL database (as bench_api.py does), starts `thaiyyal serve`, fills
every worker with a long run, holds slow-header sockets open on both ports (connections
that send half a request and never finish its headers), then times `/healthz` and
`/readyz` on the probe port and `/healthz` on the main port. Prints max and p50 per probe,
and how many timed out.

    python deploy/loadtest/probe_latency.py [--load waiting|cpu] [--workers 3]
        [--slow-sockets 50] [--samples 20] [--worker-class gthread --threads 4]

--load waiting: one run per worker, each a 20 s `delay` node (a run waiting on I/O).
--load cpu: twice as many clients as workers posting an engine-bound workflow in a loop.
--worker-class/--threads: gunicorn's own worker instead (GUNICORN_CMD_ARGS), to compare.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import bench_api as bench

#: range 1..10000 -> filter -> transform: engine CPU in every request
CPU_BOUND = {"nodes": [
    {"id": "r", "type": "range", "data": {"start": 1, "end": 10000}},
    {"id": "f", "type": "filter", "data": {"condition": "item % 3 == 0 && item % 7 != 1"}},
    {"id": "s", "type": "transform", "data": {"expression": "map(input.filtered, item * 2)"}}],
    "edges": [{"source": "r", "target": "f"}, {"source": "f", "target": "s"}]}


def waiting(seconds: float) -> dict:
    return {"nodes": [{"id": "wait", "type": "delay", "data": {"duration": f"{seconds:g}s"}}],
            "edges": []}


def probe(port: int, path: str, timeout: float) -> float | None:
    """Seconds for a whole answer to GET path, or None when it timed out."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
    except OSError:
        return None
    finally:
        conn.close()
    return time.perf_counter() - started


def summary(label: str, samples: list[float | None]) -> str:
    answered = [s for s in samples if s is not None]
    text = f"{label}: {len(samples) - len(answered)}/{len(samples)} timed out"
    if answered:
        text += (f"; max {max(answered) * 1000:.1f} ms, "
                 f"p50 {statistics.median(answered) * 1000:.1f} ms")
    return text


@contextmanager
def slow_header_sockets(port: int, count: int) -> Iterator[None]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
            socks.append(sock)
        yield
    finally:
        for sock in socks:
            sock.close()


def post(port: int, token: str, body: bytes, timeout: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", bench.EXECUTE, body, {
            "Content-Type": "application/json", "Authorization": f"Token {token}"})
        conn.getresponse().read()
    except OSError:
        pass  # the server stopping under a load client is not a finding
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", choices=("waiting", "cpu"), default="waiting")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--run-seconds", type=float, default=20.0)
    parser.add_argument("--slow-sockets", type=int, default=50)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=3.0, help="per probe (3 s)")
    parser.add_argument("--worker-class", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="thaiyyal-probes-"))
    with bench.fresh_database(keep=False) as database_url:
        env = bench.server_env(database_url, workdir)
        token = bench.set_up_database(env)["token"]
        env["THAIYYAL_MAX_EXECUTION_TIME"] = f"{args.run_seconds + 30:g}s"
        if args.worker_class:
            threads = f" --threads {args.threads}" if args.threads else ""
            env["GUNICORN_CMD_ARGS"] = f"--worker-class {args.worker_class}{threads}"
        server = bench.Server("probes", bench.free_port(), workdir / "server.log")
        try:
            server.start(env, args.workers)
            server.wait_ready()
            stop = threading.Event()
            if args.load == "waiting":
                body = json.dumps(waiting(args.run_seconds)).encode()
                clients = [threading.Thread(target=post, daemon=True, args=(
                    server.port, token, body, args.run_seconds + 30))
                    for _ in range(args.workers)]
            else:
                body = json.dumps(CPU_BOUND).encode()

                def loop() -> None:
                    while not stop.is_set():
                        post(server.port, token, body, 30)
                clients = [threading.Thread(target=loop, daemon=True)
                           for _ in range(2 * args.workers)]
            for client in clients:
                client.start()
            time.sleep(2)  # every worker has taken a run
            results: dict[str, list[float | None]] = {
                "probe port /healthz": [], "probe port /readyz": [], "main port /healthz": []}
            with ExitStack() as held:
                held.enter_context(slow_header_sockets(server.port, args.slow_sockets))
                held.enter_context(slow_header_sockets(server.probe_port, args.slow_sockets))
                for _ in range(args.samples):
                    results["probe port /healthz"].append(
                        probe(server.probe_port, "/healthz", args.timeout))
                    results["probe port /readyz"].append(
                        probe(server.probe_port, "/readyz", args.timeout))
                    time.sleep(0.2)
                for _ in range(min(4, args.samples)):
                    results["main port /healthz"].append(
                        probe(server.port, "/healthz", args.timeout))
            stop.set()
        finally:
            server.stop()
    worker = args.worker_class or "thaiyyal (sync, header deadline)"
    print(f"{args.workers} {worker} workers, load {args.load}, {args.slow_sockets} slow-header "
          f"sockets on each port, probe timeout {args.timeout:g}s:")
    for label, samples in results.items():
        print("  " + summary(label, samples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
