"""API load benchmark (`make bench-api`): the execute API against its floors, with wrk.

Creates a fresh PostgreSQL database (127.0.0.1:5432, user postgres; PGHOST/PGPORT/PGUSER
change that), migrates it, adds a user with an API token and a stored copy of
workflow.json, starts `thaiyyal serve` twice with the default worker count — run
recording of ad-hoc runs on, and off — waits for /readyz, then drives them with wrk on
loopback. The scenarios alternate, several rounds each, so drift (CPU frequency, cache,
database growth) spreads over all of them. At the end it prints req/s and p50/p95/p99
(the median over rounds), the ratios the targets are about, and drops the database.

    python deploy/loadtest/bench_api.py [--rounds 3] [--duration 8] [--connections 10]

Scenarios (10 connections unless said):
  floor-a       minimal authenticated DRF endpoint: parse the body, answer small JSON
  floor-b       floor A + one INSERT and one UPDATE of a run-sized row (one commit)
  adhoc-norec   POST /api/v1/workflow/execute of workflow.json, recording off
  adhoc-rec     the same, recorded (run + node runs committed before the response)
  stored-rec    POST /api/v1/workflows/<id>/execute of the stored workflow.json
  fmr50-rec     ad-hoc 50-node filter/map/reduce over 1,000 items, recorded
  adhoc-rec-c50 adhoc-rec at 50 connections (the p95 < 50 ms target)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "deploy" / "loadtest"
POST_LUA = KIT / "post.lua"
WORKFLOW = KIT / "workflow.json"
WRK_MARK = "THAIYYAL_WRK_JSON "
EXECUTE = "/api/v1/workflow/execute"

# Targets from the performance issue (2 cores, wrk on the same machine).
TARGET_ADHOC_VS_FLOOR_A = 0.85
TARGET_RECORDED_VS_FLOOR_B = 1.0
TARGET_P95_MS_AT_50 = 50.0

SETUP_CODE = r"""
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from workflows import services
call_command("migrate", interactive=False, verbosity=0)
user = get_user_model().objects.create_user("bench", password=None)
token = Token.objects.create(user=user)
definition = json.loads(open(sys.argv[1]).read())
stored = services.create_workflow(owner=user, name="bench six nodes", definition=definition)
print(json.dumps({"token": token.key, "workflow_id": stored.pk}))
"""


def fmr_workflow(branches: int = 16, items: int = 1000) -> dict:
    """50 nodes: a range of `items`, `branches` filter -> map -> reduce chains over it, and
    a transform collecting the sums."""
    nodes = [{"id": "items", "type": "range", "data": {"start": 1, "end": items, "step": 1}}]
    edges = []
    for b in range(branches):
        nodes += [
            {"id": f"f{b}", "type": "filter", "data": {"condition": f"item % {b + 2} == 0"}},
            {"id": f"m{b}", "type": "map", "data": {"expression": f"item * {b + 1} + 1"}},
            {"id": f"r{b}", "type": "reduce",
             "data": {"expression": "accumulator + item", "initial_value": 0}},
        ]
        edges += [{"source": "items", "target": f"f{b}"},
                  {"source": f"f{b}", "target": f"m{b}"},
                  {"source": f"m{b}", "target": f"r{b}"},
                  {"source": f"r{b}", "target": "all"}]
    nodes.append({"id": "all", "type": "transform", "data": {"transform_type": "to_array"}})
    return {"workflow_id": "bench-fmr-50", "nodes": nodes, "edges": edges}


# --- database ------------------------------------------------------------------------------


def pg_settings() -> dict[str, str]:
    return {"host": os.environ.get("PGHOST", "127.0.0.1"),
            "port": os.environ.get("PGPORT", "5432"),
            "user": os.environ.get("PGUSER", "postgres")}


@contextmanager
def fresh_database(keep: bool) -> Iterator[str]:
    """A new database for this run; its URL. Dropped at the end unless `keep`."""
    import psycopg

    pg = pg_settings()
    name = f"thaiyyal_bench_{os.getpid()}"
    admin = f"host={pg['host']} port={pg['port']} user={pg['user']} dbname=postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL at {pg['host']}:{pg['port']} (user {pg['user']}) is "
                         f"not reachable: {exc}".strip()) from None
    try:
        yield f"postgres://{pg['user']}@{pg['host']}:{pg['port']}/{name}"
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def recorded_counts(url: str) -> tuple[int, int]:
    """(runs recorded by the execute API, node runs) in the database."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        runs = conn.execute(
            "SELECT count(*) FROM workflows_run WHERE worker_host <> 'bench'").fetchone()[0]
        node_runs = conn.execute("SELECT count(*) FROM workflows_noderun").fetchone()[0]
    return runs, node_runs


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    log: Path
    process: subprocess.Popen | None = None
    #: servers run side by side: each probe listener needs a port of its own too
    probe_port: int = field(default_factory=free_port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def probe_base(self) -> str:
        return f"http://127.0.0.1:{self.probe_port}"

    def start(self, env: dict[str, str], workers: int | None) -> None:
        command = [str(Path(sys.executable).with_name("thaiyyal")), "serve", "--no-migrate",
                   "--bind", f"127.0.0.1:{self.port}",
                   "--probe-bind", f"127.0.0.1:{self.probe_port}"]
        if workers:
            command += ["--workers", str(workers)]
        # Our own session: stop() signals exactly this server's process group.
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                        stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"server {self.name} did not become ready; its log:\n"
                         + self.log.read_text(errors="replace")[-4000:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def post_json(url: str, token: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- wrk -----------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    server: Server
    path: str
    body: Path
    connections: int
    rounds: list[dict] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.rounds)

    def total(self, key: str) -> int:
        return sum(r[key] for r in self.rounds)


def run_wrk(scenario: Scenario, token: str, seconds: float, threads: int) -> dict:
    env = dict(os.environ, THAIYYAL_TOKEN=token, THAIYYAL_BODY_FILE=str(scenario.body))
    command = ["wrk", f"-t{min(threads, scenario.connections)}",
               f"-c{scenario.connections}", f"-d{seconds:g}s", "--timeout", "10s",
               "-s", str(POST_LUA), scenario.server.base + scenario.path]
    assert scenario.server.process is not None
    before = cpu_split(scenario.server.process.pid)
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    after = cpu_split(scenario.server.process.pid)
    for line in out.stdout.splitlines():
        if line.startswith(WRK_MARK):
            result = json.loads(line[len(WRK_MARK):])
            requests = max(1, result.get("requests") or round(result["rps"] * seconds))
            for key in after:
                result[f"cpu_{key}_us"] = (after[key] - before[key]) / requests * 1e6
            return result
    raise SystemExit(f"wrk gave no result for {scenario.name}:\n{out.stdout}\n{out.stderr}")


# --- where the CPU goes ----------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """CPU seconds of one process and of its children that exited (recycled workers,
    closed database backends), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / _TICK  # utime, stime, cutime, cstime


def _children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
        except OSError:
            continue
    return found


def _postgres_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() == "postgres":
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server (master + workers), PostgreSQL (all its processes)
    and this script's finished children (wrk): where a scenario's CPU went."""
    server = [server_pid, *_children(server_pid)]
    return {
        "server": sum(_proc_cpu(p) for p in server),
        "pg": sum(_proc_cpu(p) for p in _postgres_pids()),
        "wrk": sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f)
                   for f in ("ru_utime", "ru_stime")),
    }


# --- report --------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(scenarios: dict[str, Scenario], counts: tuple[int, int]) -> bool:
    print()
    print(f"{'scenario':<14} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'non-2xx':>8} {'errors':>7}  {'CPU us/req: server':>18} "
          f"{'pg':>5} {'wrk':>5}  req/s by round")
    for s in scenarios.values():
        by_round = " ".join(f"{r['rps']:.0f}" for r in s.rounds)
        print(f"{s.name:<14} {s.connections:>5} {s.median('rps'):>9.1f} "
              f"{s.median('p50_us') / 1000:>8.2f} {s.median('p95_us') / 1000:>8.2f} "
              f"{s.median('p99_us') / 1000:>8.2f} {s.total('non2xx'):>8} "
              f"{s.total('socket_errors') + s.total('timeouts'):>7}  "
              f"{s.median('cpu_server_us'):>18.0f} {s.median('cpu_pg_us'):>5.0f} "
              f"{s.median('cpu_wrk_us'):>5.0f}  {by_round}")

    def rps(name: str) -> float:
        return scenarios[name].median("rps")

    floor_a, floor_b = rps("floor-a"), rps("floor-b")
    checks = [
        ("adhoc-norec / floor-a", rps("adhoc-norec") / floor_a, TARGET_ADHOC_VS_FLOOR_A),
        ("adhoc-rec / floor-b", rps("adhoc-rec") / floor_b, TARGET_RECORDED_VS_FLOOR_B),
        ("stored-rec / floor-b", rps("stored-rec") / floor_b, TARGET_RECORDED_VS_FLOOR_B),
    ]
    print()
    print("ratios (median req/s)")
    all_met = True
    for label, ratio, target in checks:
        all_met &= ratio >= target
        print(f"  {label:<24} {ratio:5.2f}x  (target >= {target:.2f}x: {verdict(ratio >= target)})")
    for label, ratio in (("adhoc-rec / adhoc-norec", rps("adhoc-rec") / rps("adhoc-norec")),
                         ("floor-b / floor-a", floor_b / floor_a),
                         ("fmr50-rec / adhoc-rec", rps("fmr50-rec") / rps("adhoc-rec"))):
        print(f"  {label:<24} {ratio:5.2f}x")
    p95 = scenarios["adhoc-rec-c50"].median("p95_us") / 1000
    all_met &= p95 < TARGET_P95_MS_AT_50
    print(f"  p95 at 50 connections   {p95:6.2f} ms (target < {TARGET_P95_MS_AT_50:.0f} ms: "
          f"{verdict(p95 < TARGET_P95_MS_AT_50)})")
    bad = sum(s.total("non2xx") + s.total("socket_errors") + s.total("timeouts")
              for s in scenarios.values())
    all_met &= bad == 0
    print(f"  non-2xx or failed         {bad} (target 0: {verdict(bad == 0)})")
    runs, node_runs = counts
    print(f"  recorded in PostgreSQL    {runs} runs, {node_runs} node runs")
    return all_met


# --- main ----------------------------------------------------------------------------------


def server_env(database_url: str, workdir: Path) -> dict[str, str]:
    """The environment of a benchmark server: production settings on `database_url`."""
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE=
               "thaiyyal.settings", SECRET_KEY=secrets.token_urlsafe(50), DEBUG="0",
               THAIYYAL_HTTPS="0", THAIYYAL_BENCH_ENDPOINTS="1",
               THAIYYAL_VAR_DIR=str(workdir / "var"),
               # Throttling stays on (its cost is real) at rates no run here reaches.
               THAIYYAL_THROTTLE_USER="100000000/min",
               THAIYYAL_THROTTLE_EXECUTE="100000000/min")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each server picks its own
    return env


def set_up_database(env: dict[str, str]) -> dict:
    """Migrate, add the bench user and the stored workflow: {"token", "workflow_id"}."""
    setup = subprocess.run([sys.executable, "-c", SETUP_CODE, str(WORKFLOW)], env=env,
                           cwd=ROOT, capture_output=True, text=True, check=False)
    if setup.returncode != 0:
        raise SystemExit(f"database set-up failed:\n{setup.stdout}\n{setup.stderr}")
    return json.loads(setup.stdout.strip().splitlines()[-1])



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario (3)")
    parser.add_argument("--duration", type=float, default=8.0,
                        help="seconds per scenario per round (8)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of unmeasured load per scenario first (2)")
    parser.add_argument("--connections", type=int, default=10, help="wrk connections (10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers (default: thaiyyal serve's own)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only these scenarios (repeatable; ratios need all)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target is missed (not only on errors)")
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        print("wrk is not installed. Install it (Debian/Ubuntu): apt-get install -y wrk",
              file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="thaiyyal-bench-"))
    fmr = workdir / "fmr50.json"
    fmr.write_text(json.dumps(fmr_workflow()))
    empty = workdir / "empty.json"
    empty.write_text("{}")

    with fresh_database(args.keep_db) as database_url:
        env = server_env(database_url, workdir)
        info = set_up_database(env)
        token = info["token"]

        recorded = Server("recorded", free_port(), workdir / "recorded.log")
        unrecorded = Server("unrecorded", free_port(), workdir / "unrecorded.log")
        try:
            recorded.start(dict(env, THAIYYAL_RECORD_ADHOC_RUNS="1"), args.workers)
            unrecorded.start(dict(env, THAIYYAL_RECORD_ADHOC_RUNS="0"), args.workers)
            recorded.wait_ready()
            unrecorded.wait_ready()
            c = args.connections
            stored = f"/api/v1/workflows/{info['workflow_id']}/execute"
            scenarios = {s.name: s for s in [
                Scenario("floor-a", recorded, "/api/v1/bench/floor-a", WORKFLOW, c),
                Scenario("floor-b", recorded, "/api/v1/bench/floor-b", WORKFLOW, c),
                Scenario("adhoc-norec", unrecorded, EXECUTE, WORKFLOW, c),
                Scenario("adhoc-rec", recorded, EXECUTE, WORKFLOW, c),
                Scenario("stored-rec", recorded, stored, empty, c),
                Scenario("fmr50-rec", recorded, EXECUTE, fmr, c),
                Scenario("adhoc-rec-c50", recorded, EXECUTE, WORKFLOW, 50),
            ] if not args.only or s.name in args.only}
            # Each scenario must answer 200 before it is measured: a misconfigured floor
            # or route would otherwise be benchmarked as fast 404s.
            for s in scenarios.values():
                status, body = post_json(s.server.base + s.path, token, s.body.read_bytes())
                if status != 200:
                    print(f"{s.name}: {s.path} answered {status}: {body[:300]!r}",
                          file=sys.stderr)
                    return 1
            print(f"servers ready (recorded :{recorded.port}, unrecorded :{unrecorded.port}); "
                  f"{len(scenarios)} scenarios x {args.rounds} rounds x {args.duration:g}s")
            load_before = os.getloadavg()[0]
            if load_before > 0.5 * (os.cpu_count() or 1):
                print(f"warning: load average {load_before:.2f} before the run: something "
                      f"else is using the CPUs, the figures will be low and noisy")
            if args.warmup > 0:
                for s in scenarios.values():
                    run_wrk(s, token, args.warmup, args.threads)
            for round_no in range(1, args.rounds + 1):
                for s in scenarios.values():
                    result = run_wrk(s, token, args.duration, args.threads)
                    s.rounds.append(result)
                    print(f"  round {round_no} {s.name:<14} {result['rps']:9.1f} req/s  "
                          f"p95 {result['p95_us'] / 1000:7.2f} ms  non-2xx {result['non2xx']}",
                          flush=True)
        finally:
            recorded.stop()
            unrecorded.stop()
        counts = recorded_counts(database_url)
        print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} at the end "
              f"(wrk and the servers share {os.cpu_count()} CPUs)")
        if len(scenarios) < 7:
            for s in scenarios.values():
                print(f"{s.name}: {s.median('rps'):.1f} req/s, p95 "
                      f"{s.median('p95_us') / 1000:.2f} ms, non-2xx {s.total('non2xx')}, "
                      f"CPU us/req server {s.median('cpu_server_us'):.0f} "
                      f"pg {s.median('cpu_pg_us'):.0f} wrk {s.median('cpu_wrk_us'):.0f}")
            return 0
        met = report(scenarios, counts)
    shutil.rmtree(workdir, ignore_errors=True)
    broken = any(s.total("non2xx") or s.total("socket_errors") or s.total("timeouts")
                 for s in scenarios.values())
    return 1 if broken or (args.strict and not met) else 0


if __name__ == "__main__":
    raise SystemExit(main())
