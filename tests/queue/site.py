"""A queue-mode site on loopback for a test: `thaiyyal serve` instances, `thaiyyal
worker`s and `thaiyyal scheduler`, all on the suite's PostgreSQL (DATABASE_URL) and the
machine's RabbitMQ, on a queue of the test's own."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.observability import liveserver
from tests.queue.conftest import Queue

CALLBACK_SECRET = "callback-secret-for-tests"
#: anonymous requests (webhooks) allowed per minute across the whole site
ANON_RATE = "6/min"


@dataclass
class Site:
    tmp: Path
    env: dict[str, str]
    queue: Queue
    servers: list[liveserver.Server] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def serve(self) -> liveserver.Server:
        where = self.tmp / f"web{len(self.servers)}"
        where.mkdir()
        server = liveserver.start_server(where, workers=2, **self.env)
        self.servers.append(server)
        return server

    def start(self, *command: str, name: str, **extra_env: str) -> subprocess.Popen:
        """`thaiyyal <command>` with the site's environment, its output in `name`.log."""
        env = {**self.servers[0].env, **self.env, **extra_env}
        for own in ("PROMETHEUS_MULTIPROC_DIR", "THAIYYAL_PPROF_DIR"):
            env.pop(own, None)  # the web server's: each worker makes its own
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([str(liveserver.BIN / "thaiyyal"), *command], env=env,
                                       cwd=liveserver.ROOT, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append(process)
        liveserver.wait_for(lambda: process.poll() is not None or "ready" in log.read_text(
            errors="replace") or "beat: Starting" in log.read_text(errors="replace"),
            60, f"{name} to start")
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        return process

    def worker(self, name: str, concurrency: int = 1, **extra_env: str) -> subprocess.Popen:
        return self.start("worker", "--concurrency", str(concurrency),
                          "--name", f"{name}@%h", name=name, **extra_env)

    def manage(self, *args: str) -> str:
        """`thaiyyal manage ...` against the site's database; its output."""
        env = {**self.servers[0].env, **self.env}
        done = subprocess.run([str(liveserver.BIN / "thaiyyal"), "manage", *args], env=env,
                              cwd=liveserver.ROOT, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes:
            liveserver.stop(process)
        for server in self.servers:
            liveserver.stop(server.process)
        self.queue.purge()


def site_environment(broker: str, **extra: str) -> dict[str, str]:
    return {"THAIYYAL_BROKER_URL": broker,
            "THAIYYAL_QUEUE": f"thaiyyal-site-{secrets.token_hex(4)}",
            "THAIYYAL_CALLBACK_SECRET": CALLBACK_SECRET,
            # shared state: the response cache and the throttle counts in Redis
            "THAIYYAL_REDIS_URL": os.environ.get("THAIYYAL_TEST_REDIS_URL",
                                                 "redis://127.0.0.1:6379/0"),
            "THAIYYAL_CACHE_PREFIX": f"thaiyyal-site-{secrets.token_hex(4)}",
            "THAIYYAL_THROTTLE_ANON": ANON_RATE,
            "THAIYYAL_REAP_INTERVAL_SECONDS": "1", "THAIYYAL_REAP_GRACE_SECONDS": "3",
            **extra}
