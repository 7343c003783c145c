"""`/healthz` and `/readyz` on a port of their own, answered by a thread in the gunicorn
master: they answer whatever the workers are doing.

A sync worker runs one request at a time, so probes served by the workers (the main port,
thaiyyal/health.py) wait behind long runs and behind clients that never finish their
headers. This listener is one non-blocking loop (selectors) in the master: a connection
costs a buffer, not a thread or a worker, every connection has a 2 s deadline to send its
request, and the oldest is dropped when 1024 are open, so slow or idle sockets cannot
starve it.

- Liveness (`/healthz`) is "this server can serve": the master answers (this thread
  lives in it), its listening socket is open, it has worker processes (or is booting
  them), and no worker has gone unanswered past gunicorn's timeout (the master kills
  those; one it did not kill means it has stopped doing its job). A busy worker is alive.
- Readiness (`/readyz`) is "send me traffic": the database accepts a connection and
  answers `SELECT 1` within 2 s (thaiyyal.health.ping_new_connection), and the server is
  not shutting down. The check runs on
  a thread of its own, one at a time (concurrent probes share it, and its answer is
  reused for a second), so a hanging database never delays liveness.

The master forks workers while this thread runs: a worker closes its copies of the
listener's descriptors (`close_in_child`) and never runs the loop. Nothing here takes a
lock a worker could inherit held.
"""

from __future__ import annotations

import json
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("thaiyyal")

#: (HTTP status, JSON body)
Answer = tuple[int, dict[str, Any]]

READY_TIMEOUT_SECONDS = 2.0
#: a probe client sends its request at once; one that does not is dropped after this
REQUEST_DEADLINE_SECONDS = 2.0
MAX_REQUEST_BYTES = 8192
MAX_CONNECTIONS = 1024
#: a readiness answer is reused for this long (a flood of probes costs one ping a second)
READY_CACHE_SECONDS = 1.0
#: a server with no worker process for this long (despite the master respawning them) is
#: not live
NO_WORKER_GRACE_SECONDS = 30.0
#: a worker silent this long past gunicorn's timeout should have been killed by the master
HEARTBEAT_GRACE_SECONDS = 10.0

REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
           431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def parse_bind(text: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[V6]:PORT`, or `:PORT` for every interface) as an address."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"probe bind {text!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def default_probe_bind(main_bind: str, port: int = 8081) -> str:
    """The main bind's host (the same interfaces) with the probe port."""
    first = main_bind.split(",")[0].strip()
    if first.startswith(("unix:", "fd://")) or ":" not in first:
        return f"127.0.0.1:{port}"
    host = first.rpartition(":")[0]
    return f"{host}:{port}"


# -- liveness ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerState:
    """What liveness looks at, read from the gunicorn arbiter."""

    listening: bool
    #: pid -> seconds since the worker last told the master it was alive
    worker_silence: dict[int, float]
    #: gunicorn's worker timeout (0: none)
    timeout: float
    #: seconds since the master last had a worker process
    without_workers: float = 0.0


def liveness(state: ServerState) -> Answer:
    if not state.listening:
        # Shutting down: the master is letting runs in flight finish. Still alive, so an
        # orchestrator does not kill those runs; readiness takes the pod out of service.
        return 200, {"status": "ok", "stopping": True}
    workers = len(state.worker_silence)
    if not workers and state.without_workers > NO_WORKER_GRACE_SECONDS:
        return 503, {"status": "unavailable",
                     "reason": f"no worker process for {state.without_workers:.0f}s"}
    if state.timeout:
        limit = state.timeout + HEARTBEAT_GRACE_SECONDS
        stuck = sorted(pid for pid, silent in state.worker_silence.items() if silent > limit)
        if stuck:
            return 503, {"status": "unavailable",
                         "reason": f"workers {stuck} silent past the {state.timeout:g}s "
                                   "timeout and not restarted"}
    return 200, {"status": "ok", "workers": workers}


class ArbiterView:
    """Reads a gunicorn arbiter's state from another thread (its main loop owns it)."""

    def __init__(self, arbiter: Any) -> None:
        self.arbiter = arbiter
        self.last_worker_seen = time.monotonic()

    def state(self) -> ServerState:
        now = time.monotonic()
        silence: dict[int, float] = {}
        for pid, worker in list(self.arbiter.WORKERS.items()):
            try:
                # The heartbeat file's mtime holds a monotonic time (gunicorn's WorkerTmp).
                silent = now - worker.tmp.last_update()
            except (OSError, ValueError):
                continue  # reaped meanwhile: its file is closed
            if pid in self.arbiter.WORKERS:  # still ours (the descriptor was not reused)
                silence[pid] = max(0.0, silent)
        if silence:
            self.last_worker_seen = now
        return ServerState(listening=bool(self.arbiter.LISTENERS), worker_silence=silence,
                           timeout=float(self.arbiter.timeout or 0),
                           without_workers=now - self.last_worker_seen)


# -- readiness --------------------------------------------------------------------------
@dataclass
class PingResult:
    at: float
    error: str | None


@dataclass
class DatabaseCheck:
    """One database ping at a time on its own thread; its result is reused briefly."""

    ping: Callable[[], None]
    on_done: Callable[[], None]
    latest: PingResult | None = None
    _running: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh(self) -> PingResult | None:
        latest = self.latest
        if latest is not None and time.monotonic() - latest.at <= READY_CACHE_SECONDS:
            return latest
        return None

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name="thaiyyal-probe-db", daemon=True).start()

    def _run(self) -> None:
        error = None
        try:
            self.ping()
        except Exception as exc:  # noqa: BLE001 - any failure is an answer: not ready
            error = f"{type(exc).__name__}: {str(exc).strip()}"[:500]
        self.latest = PingResult(time.monotonic(), error)
        with self._lock:
            self._running = False
        self.on_done()


def readiness_answer(result: PingResult | None) -> Answer:
    if result is None:
        return 503, {"status": "unavailable", "database": "no answer within "
                                                          f"{READY_TIMEOUT_SECONDS:g}s"}
    if result.error is not None:
        return 503, {"status": "unavailable", "database": result.error}
    return 200, {"status": "ready", "database": "ok"}


# -- the listener -----------------------------------------------------------------------
def encode(answer: Answer, head_only: bool) -> bytes:
    status, body = answer
    payload = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\n"
            "Content-Type: application/json\r\nCache-Control: no-store\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
    return head if head_only else head + payload


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    deadline: float
    buffer: bytearray = field(default_factory=bytearray)
    out: bytes = b""
    head_only: bool = False
    #: waiting for the database check (answered when it ends, or at `deadline`)
    waiting: bool = False


class ProbeListener:
    """The loop: accept, read one request, answer it, close."""

    def __init__(self, address: tuple[str, int], live: Callable[[], Answer],
                 stopping: Callable[[], bool], ping: Callable[[], None]) -> None:
        self.live = live
        self.stopping = stopping
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(address)
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ, None)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self.clients: dict[socket.socket, _Client] = {}
        self.database = DatabaseCheck(ping, self._wake)
        self._closed = False
        self.thread = threading.Thread(target=self._loop, name="thaiyyal-probes", daemon=True)

    def start(self) -> ProbeListener:
        self.thread.start()
        return self

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # a wake-up is already pending (the buffer is full) or we are closing

    def _loop(self) -> None:
        while not self._closed:
            try:
                events = self.selector.select(self._next_timeout())
            except (OSError, ValueError):
                return  # closed under us
            for key, mask in events:
                if key.fileobj is self.sock:
                    self._accept()
                elif key.fileobj is self._wake_r:
                    self._drain_wake()
                else:
                    client = self.clients.get(key.fileobj)  # type: ignore[call-overload]
                    if client is not None:
                        self._serve_guarded(client, mask)
            self._expire()

    def _next_timeout(self) -> float:
        if not self.clients:
            return 1.0
        soonest = min(client.deadline for client in self.clients.values())
        return max(0.0, min(1.0, soonest - time.monotonic()))

    def _accept(self) -> None:
        for _ in range(64):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. EMFILE: try again on the next event
            conn.setblocking(False)
            if len(self.clients) >= MAX_CONNECTIONS:
                oldest = min(self.clients.values(), key=lambda c: c.deadline)
                self._close(oldest)
            client = _Client(conn, time.monotonic() + REQUEST_DEADLINE_SECONDS)
            self.clients[conn] = client
            self.selector.register(conn, selectors.EVENT_READ, None)

    def _serve_guarded(self, client: _Client, mask: int) -> None:
        try:
            self._serve(client, mask)
        except Exception:  # noqa: BLE001 - one bad connection must not stop the probes
            log.exception("probe listener: dropping a connection")
            self._close(client)

    def _serve(self, client: _Client, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(client)
            return
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(client)
            return
        if client.waiting or client.out:
            return  # one request per connection; ignore what follows it
        client.buffer += data
        if b"\r\n\r\n" in client.buffer or b"\n\n" in client.buffer:
            self._dispatch(client)
        elif len(client.buffer) > MAX_REQUEST_BYTES:
            self._respond(client, (431, {"status": "request too large"}))

    def _dispatch(self, client: _Client) -> None:
        line = bytes(client.buffer).split(b"\n", 1)[0].decode("latin-1").split()
        method, target = (line[0], line[1]) if len(line) >= 2 else ("", "")
        client.head_only = method == "HEAD"
        path = target.split("?", 1)[0].rstrip("/") or "/"
        if path not in ("/healthz", "/readyz"):
            self._respond(client, (404, {"status": "not found", "path": path}))
        elif method not in ("GET", "HEAD"):
            self._respond(client, (405, {"status": "method not allowed"}))
        elif path == "/healthz":
            self._respond(client, self.live())
        elif self.stopping():
            self._respond(client, (503, {"status": "stopping"}))
        elif (result := self.database.fresh()) is not None:
            self._respond(client, readiness_answer(result))
        else:
            client.waiting = True
            client.deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            self.database.start()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(512):
                pass
        except (BlockingIOError, InterruptedError, OSError):
            pass
        result = self.database.fresh()
        if result is None:
            return
        for client in [c for c in self.clients.values() if c.waiting]:
            client.waiting = False
            self._respond(client, readiness_answer(result))

    def _expire(self) -> None:
        now = time.monotonic()
        for client in [c for c in self.clients.values() if c.deadline <= now]:
            if client.waiting:
                client.waiting = False
                self._respond(client, readiness_answer(None))
            else:
                self._close(client)  # never sent a whole request, or never read the answer

    def _respond(self, client: _Client, answer: Answer) -> None:
        client.out = encode(answer, client.head_only)
        client.deadline = time.monotonic() + REQUEST_DEADLINE_SECONDS
        self._flush(client)

    def _flush(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(client)
            return
        client.out = client.out[sent:]
        if client.out:
            self.selector.modify(client.sock, selectors.EVENT_WRITE, None)
        else:
            self._close(client)

    def _close(self, client: _Client) -> None:
        self.clients.pop(client.sock, None)
        try:
            self.selector.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()

    def _descriptors(self) -> Iterable[Any]:
        return [self.sock, self._wake_r, self._wake_w, *self.clients]

    def close(self) -> None:
        """Stop the loop and close the port (the master is exiting)."""
        self._closed = True
        self._wake()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=2)
        for sock in self._descriptors():
            sock.close()
        self.selector.close()

    def close_in_child(self) -> None:
        """In a freshly forked worker: drop the inherited descriptors. The loop's thread
        does not exist here, so nothing is stopped or waited for."""
        self._closed = True
        for sock in self._descriptors():
            try:
                sock.close()
            except OSError:
                pass
        self.selector.close()
