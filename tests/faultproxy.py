"""A TCP proxy on loopback that a test can cut and restore: a real network fault between
the app and PostgreSQL (or any TCP server), no mocks.

    with FaultProxy(("127.0.0.1", 5432)) as proxy:
        url = proxy.url_for(database_url)   # the same database, through the proxy
        proxy.cut("refuse")                 # every connection closed, new ones refused
        proxy.cut("hang")                   # every connection closed, new ones accepted
                                            # but never answered (a black hole)
        proxy.restore()

`refuse` is a server that is down (the port is closed: connect fails at once); `hang` is a
network that drops packets (connect seems to work, then nothing comes back, so only the
client's own timeouts end the wait).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
import urllib.parse
from typing import Literal

import pytest

Mode = Literal["refuse", "hang"]


class FaultProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self.host = host
        self._listener = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._mode: Mode | None = None
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._held: list[socket.socket] = []  # accepted while hanging: never answered
        self._stop = threading.Event()
        self._accepting: threading.Thread | None = None
        self.connections = 0  # accepted and forwarded, for tests that count them
        #: reads from the client side that were forwarded: on loopback, one per round trip
        #: the client starts (it sends, then waits for the answer)
        self.client_sends = 0

    # --- control --------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._accepting = threading.Thread(target=self._accept_loop, args=(self._listener,),
                                           name="faultproxy-accept", daemon=True)
        self._accepting.start()
        return self

    def cut(self, mode: Mode = "refuse") -> None:
        """Close every open connection; new ones are refused or left hanging."""
        with self._lock:
            self._mode = mode
            pairs, self._pairs = self._pairs, set()
            if mode == "refuse":
                # Closing the listener makes the port refuse connections (RST), like a
                # stopped server; restore() listens on the same port again.
                self._close_listener()
        for pair in pairs:
            for sock in pair:
                _close(sock)

    def restore(self) -> None:
        """Forward again: new connections reach the target."""
        with self._lock:
            was, self._mode = self._mode, None
            held, self._held = self._held, []
            if was == "refuse":
                self._listener = self._listen(self.port)
                self._accepting = threading.Thread(
                    target=self._accept_loop, args=(self._listener,),
                    name="faultproxy-accept", daemon=True)
                self._accepting.start()
        for sock in held:  # a client still waiting on one gets an error, not a late answer
            _close(sock)

    def close(self) -> None:
        self._stop.set()
        self.cut("refuse")
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            _close(sock)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url_for(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by the proxy's."""
        parts = urllib.parse.urlsplit(database_url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@{self.host}:{self.port}" if auth else f"{self.host}:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    # --- forwarding -----------------------------------------------------------------

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        sock.listen(128)
        return sock

    def _close_listener(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        _close(self._listener)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed (cut("refuse") or close())
            with self._lock:
                if self._mode == "hang":
                    self._held.append(client)
                    continue
                if self._mode == "refuse" or listener is not self._listener:
                    _close(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.connections += 1
            threading.Thread(target=self._pump, args=(pair,), name="faultproxy-pump",
                             daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        peer = {client: upstream, upstream: client}
        selector = selectors.DefaultSelector()
        try:
            for sock in pair:
                sock.setblocking(True)
                selector.register(sock, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select(timeout=1):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client:
                        with self._lock:
                            self.client_sends += 1
                    peer[source].sendall(data)
                with self._lock:
                    if pair not in self._pairs:
                        return
        except (OSError, ValueError):
            return  # closed by cut() or by either end
        finally:
            selector.close()
            with self._lock:
                self._pairs.discard(pair)
            for sock in pair:
                _close(sock)


def _close(sock: socket.socket) -> None:
    # shutdown first: the peer sees the end at once, and a thread blocked on the socket
    # wakes, even while another thread still holds it.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def postgres_url() -> str:
    """DATABASE_URL when it is PostgreSQL over TCP; otherwise the test is skipped."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("fault tests need PostgreSQL over TCP (DATABASE_URL)")
    return url


def proxy_for(database_url: str) -> FaultProxy:
    """A started proxy in front of the server `database_url` names."""
    parts = urllib.parse.urlsplit(database_url)
    return FaultProxy((parts.hostname or "127.0.0.1", parts.port or 5432)).start()
