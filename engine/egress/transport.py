"""Connections: aborting a call in flight, the deadline watchdog, the guarded connect,
kept-alive urllib3 pools keyed by checked address, and the bounded body reader.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import os
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
import urllib3.exceptions

from engine.egress.errors import EgressError, EgressTimeout
from engine.egress.urls import Target
from engine.errors import LimitExceeded

# ---------------------------------------------------------------------------------------
# Aborting a call from another thread


class CallAbort:
    """Lets a watchdog or a cancelled run stop a call in flight: it shuts the socket
    down, which wakes a blocked read at once, and remembers why."""

    __slots__ = ("_lock", "_sock", "reason")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.reason: str | None = None

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.reason is None:
                return
        _shutdown(sock)

    def abort(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            sock = self._sock
        if sock is not None:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected yet or already closed: the connect loop sees `reason`


class _Watchdog:
    """One daemon thread that fires callbacks at deadlines (the calls' total timeouts)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, callback: Callable[[], None]) -> Callable[[], None]:
        entry: list[Any] = [callback]
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), entry))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="thaiyyal-egress-watchdog",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
        return entry.clear

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._heap and not self._heap[0][2]:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, entry = heapq.heappop(self._heap)
            for callback in entry:
                try:
                    callback()
                except Exception:  # noqa: BLE001 - the watchdog must outlive any callback
                    pass


_watchdog = _Watchdog()


# ---------------------------------------------------------------------------------------
# Connecting

#: connector(address, port, timeout, abort) -> a connected socket; replaceable for tests
Connector = Callable[[str, int, float, CallAbort], socket.socket]


def connect(address: str, port: int, timeout: float, abort: CallAbort) -> socket.socket:
    """The default connector: a non-blocking connect polled in short slices so that an
    abort stops it within ~50 ms even though closing a connecting socket wakes nothing."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        abort.attach(sock)
        sock.setblocking(False)
        err = sock.connect_ex((address, port))
        end = time.monotonic() + timeout
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        while err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            if abort.reason is not None:
                raise ConnectionAbortedError(abort.reason)
            left = end - time.monotonic()
            if left <= 0:
                raise EgressTimeout(f"connecting to {address}:{port} timed out after {timeout:g}s")
            if poller.poll(int(min(left, 0.05) * 1000) + 1):
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                break
        if err:
            raise OSError(err, os.strerror(err))  # ECONNREFUSED becomes ConnectionRefusedError
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except BaseException:
        sock.close()
        raise


_ssl_context: ssl.SSLContext | None = None


def default_ssl_context() -> ssl.SSLContext:
    """System trust store, certificate and host name checks on (built once per process)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context



_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ALWAYS_SENSITIVE = frozenset({"authorization", "cookie", "proxy-authorization"})
_READ_SIZE = 64 * 1024


class _TooLarge(Exception):
    pass


class _BodyReader:
    """Reads a response body, decoding gzip/deflate incrementally and never holding more
    than `cap` decoded bytes: each inflate step may produce at most what is left."""

    def __init__(self, encoding: str, cap: int) -> None:
        self.cap = cap
        self.out = bytearray()
        self.raw = 0
        self.encoding = encoding
        self.inflater: Any = None
        if encoding in ("gzip", "x-gzip"):
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding not in ("", "identity", "deflate"):
            raise EgressError(f"unsupported content-encoding {encoding!r}")

    def feed(self, chunk: bytes) -> None:
        self.raw += len(chunk)
        if self.raw > self.cap:  # endless empty deflate blocks are no way around the cap
            raise _TooLarge
        if self.encoding == "deflate" and self.inflater is None:
            # RFC 9110 says zlib-wrapped; some servers send raw deflate. The header tells.
            wrapped = len(chunk) >= 2 and chunk[0] & 0x0F == 8 and (
                chunk[0] << 8 | chunk[1]) % 31 == 0
            self.inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        if self.inflater is None:
            self.out += chunk
        else:
            data = chunk
            while data and not self.inflater.eof:
                try:
                    piece = self.inflater.decompress(data, self.cap - len(self.out) + 1)
                except zlib.error as exc:
                    raise EgressError(f"could not decode {self.encoding} body: {exc}") from None
                self.out += piece
                if len(self.out) > self.cap:
                    raise _TooLarge
                data = self.inflater.unconsumed_tail
        if len(self.out) > self.cap:
            raise _TooLarge



# ---------------------------------------------------------------------------------------
# Kept-alive connections (urllib3 pools)

#: idle connections kept per pool (one pool per checked address, port, scheme, TLS name)
POOL_CONNECTIONS = 4
#: pools kept per process; the least recently used is closed beyond this
MAX_POOLS = 64
#: a pool unused this long is closed (its idle connections with it)
POOL_IDLE_SECONDS = 30.0

#: the call being made on this thread: (connector, abort, connect timeout), read when a
#: pool opens a new connection
_current = threading.local()


class _ConnectFailed(OSError):
    """A connector's failure, carried through urllib3 (the original is its __cause__)."""


def _checked_connect(conn: Any) -> socket.socket:
    call = getattr(_current, "call", None)
    if call is None:  # never outside _pooled_exchange: no unchecked connection
        raise ConnectionAbortedError("no egress call in progress")
    connector, abort, timeout = call
    try:
        return connector(conn.host, conn.port, timeout, abort)
    except EgressError:
        raise
    except OSError as exc:
        raise _ConnectFailed(str(exc)) from exc


class _CheckedHTTPConnection(urllib3.connection.HTTPConnection):
    """Connects only through the connector, to the pool's checked address (its host)."""

    def _new_conn(self) -> socket.socket:
        return _checked_connect(self)

    def connect(self) -> None:
        super().connect()
        _current.call[1].attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # kept alive: this call's watchdog and cancel reach it
            _current.call[1].attach(self.sock)
        super().request(*args, **kwargs)


class _CheckedHTTPSConnection(_CheckedHTTPConnection, urllib3.connection.HTTPSConnection):
    """The same over TLS (the checks above wrap HTTPSConnection's own connect): SNI and the
    certificate check use the URL's host name."""


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _Pools:
    """The process's pools, keyed by (scheme, checked address, port, TLS server name,
    TLS context, connector): a connection is only ever reused for the same checked
    address and name. Bounded (MAX_POOLS, least recently used closed first); pools idle
    for POOL_IDLE_SECONDS are closed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[tuple[Any, ...], tuple[urllib3.HTTPConnectionPool, float]] = {}

    def get(self, target: Target, address: str, context: ssl.SSLContext | None,
            connector: Connector) -> urllib3.HTTPConnectionPool:
        https = target.scheme == "https"
        key = (target.scheme, address, target.port, target.host if https else None,
               context if https else None, connector)
        now = time.monotonic()
        closing: list[urllib3.HTTPConnectionPool] = []
        with self._lock:
            entry = self._pools.pop(key, None)
            for other, (old, used) in list(self._pools.items()):
                if now - used > POOL_IDLE_SECONDS:
                    closing.append(old)
                    del self._pools[other]
            if entry is None:
                pool: urllib3.HTTPConnectionPool
                if https:
                    pool = _HTTPSPool(address, target.port, maxsize=POOL_CONNECTIONS,
                                      block=False, server_hostname=target.host,
                                      ssl_context=context or default_ssl_context())
                else:
                    pool = _HTTPPool(address, target.port, maxsize=POOL_CONNECTIONS,
                                     block=False)
            else:
                pool = entry[0]
            self._pools[key] = (pool, now)  # most recently used last
            while len(self._pools) > MAX_POOLS:
                oldest = next(iter(self._pools))
                closing.append(self._pools.pop(oldest)[0])
        for old_pool in closing:
            old_pool.close()
        return pool

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool, _ in pools:
            pool.close()


_pools = _Pools()


def _root_cause(exc: BaseException) -> BaseException:
    """The socket, TLS or HTTP error under urllib3's wrappers."""
    while isinstance(exc, urllib3.exceptions.HTTPError | _ConnectFailed):
        inner = exc.__cause__ if isinstance(exc, _ConnectFailed) else next(
            (a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)), None)
        if inner is None:
            inner = exc.__context__ if isinstance(exc.__context__, BaseException) else None
        if inner is None or inner is exc:
            break
        exc = inner
    return exc


def _request_headers(target: Target, headers: Mapping[str, str]) -> dict[str, str]:
    # Host is always the URL's (a caller's own Host header is dropped, not sent twice).
    sent = {"Host": target.host_header}
    names = {k.lower() for k in headers}
    sent.update((k, v) for k, v in headers.items() if k.lower() != "host")
    if "accept-encoding" not in names:
        sent["Accept-Encoding"] = "gzip, deflate"
    if "user-agent" not in names:
        sent["User-Agent"] = "thaiyyal/0.1"
    return sent


def _read_response(response: Any, target: Target, method: str, abort: CallAbort,
                   cap: int) -> tuple[int, str, dict[str, str], bytes]:
    """Status, reason, headers (lower-case names, repeated ones joined) and the decoded
    body, read by our own reader (bounded, bomb-safe). The connection goes back to its
    pool only after a complete, clean read; after a size cap, a deadline, a cancel or
    any error it is closed, never reused."""
    reusable = False
    # urllib3 hands a connection back to its pool as soon as the body has been read to
    # the end, before we know whether the call succeeded: it goes back only from here.
    pool, response._pool = response._pool, None
    try:
        got: dict[str, str] = {}
        for name, value in response.headers.iteritems():
            key = name.lower()
            got[key] = f"{got[key]}, {value}" if key in got else value
        if response.status in _REDIRECTS and "location" in got:
            return response.status, response.reason, got, b""  # the caller follows it
        encoding = got.get("content-encoding", "").strip().lower()
        reader = _BodyReader(encoding, cap)
        try:
            while chunk := response.read(_READ_SIZE, decode_content=False):
                reader.feed(chunk)
        except _TooLarge:
            raise LimitExceeded("max_http_response_bytes", cap,
                                detail=f"{method} {target.url}: the decoded body is larger"
                                ) from None
        if abort.reason is not None:  # a shut-down socket reads as a clean end of body
            raise ConnectionAbortedError(abort.reason)
        reusable = response.headers.get("connection", "").lower() != "close"
        return response.status, response.reason, got, bytes(reader.out)
    finally:
        if reusable:
            response._pool = pool
            response.release_conn()
        else:
            response.close()  # closes the connection itself: it is never lent again


