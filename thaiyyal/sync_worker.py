"""Gunicorn's sync worker with a deadline on each client's request headers.

A sync worker reads a request with a blocking socket and no timeout: a client that opens
a connection and sends half its headers (a slowloris) holds the worker until gunicorn's
worker timeout kills it, and a few such sockets take every worker. Gunicorn has no
setting for this, so the worker wraps each accepted socket: the headers must arrive
within THAIYYAL_HEADER_TIMEOUT (10 s by default, counted from the accept, however the
bytes trickle in), and each later read of the body waits at most that long for data.
A client that misses the deadline is dropped like one that hung up.

Production should still sit behind a buffering proxy (nginx, an ingress controller, a
cloud load balancer) that only forwards whole requests: this bounds the damage, the proxy
removes it.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from gunicorn import util
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.sync import SyncWorker

from engine.limits import parse_duration

DEFAULT_HEADER_TIMEOUT = 10.0


def header_timeout() -> float:
    """Seconds a client has to send its request headers (THAIYYAL_HEADER_TIMEOUT)."""
    raw = os.environ.get("THAIYYAL_HEADER_TIMEOUT", "").strip()
    return parse_duration(raw) if raw else DEFAULT_HEADER_TIMEOUT


class DeadlineSocket:
    """An accepted client socket whose reads are bounded: all the header reads together
    by one deadline, each body read by `read_timeout`. Everything else is the socket's."""

    def __init__(self, sock: socket.socket, header_timeout: float) -> None:
        self._sock = sock
        self._deadline: float | None = time.monotonic() + header_timeout
        self._read_timeout = header_timeout

    def headers_read(self) -> None:
        """The headers are in: from now on each read waits at most `read_timeout`."""
        self._deadline = None
        self._sock.settimeout(self._read_timeout)

    def recv(self, size: int, *flags: int) -> bytes:
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise NoMoreData()
            self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            # Treated as a client that went away: logged at debug level, not as an error.
            raise NoMoreData() from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class HeaderDeadlineWorker(SyncWorker):
    """gunicorn's SyncWorker; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout()

    def accept(self, listener: Any) -> None:
        client, addr = listener.accept()
        client.setblocking(True)
        util.close_on_exec(client)
        if self.cfg.is_ssl:
            # TLS wraps the real socket; a per-read timeout is the bound there.
            client.settimeout(self.header_timeout)
            self.handle(listener, client, addr)
            return
        self.handle(listener, DeadlineSocket(client, self.header_timeout), addr)

    def handle_request(self, listener: Any, req: Any, client: Any, addr: Any) -> Any:
        if isinstance(client, DeadlineSocket):
            client.headers_read()
        return super().handle_request(listener, req, client, addr)
