"""A real HTTP server on 127.0.0.1 for tests: the only network peer tests ever talk to.

    server = LoopbackHTTPServer().start()
    server.url("/json")              # http://127.0.0.1:<port>/json
    server.requests                  # every request received, oldest first
    server.hits("/count")            # how many requests reached a path
    server.stop()

Routes (query parameters in brackets):
    /json                       {"hello": "world", "items": [1, 2, 3]}
    /text, /html                a text/plain or text/html body
    /say [text, code=200]       that text (text/plain) with that status, like a Go
                                httptest handler's w.WriteHeader(code); w.Write(text)
    /bad-json                   says application/json, is not JSON
    /body [text, type]          that text as the body, with that Content-Type, or with no
                                Content-Type header when `type` is not given
    /echo                       JSON of the request: method, path, query, headers, body
    /status [code]              that status with a JSON body {"status": code}
    /no-content                 204
    /slow [delay=0.2]           waits, then JSON {"slept": delay}
    /items [delay=0, set=a, count=6]  waits, then {"data": [{"id": "a0", "active": true}, ...]}
                                (every other item active)
    /hang                       waits until the server stops (30 s at most)
    /drip [size=10, interval=0.1]  a body of `size` bytes, one byte per interval
    /redirect [n, status=302]   a chain of n redirects ending at /json
    /redirect-to [url, status=302]  one redirect to `url` (e.g. a blocked address)
    /huge [size]                `size` bytes of "x"
    /gzip-bomb [size]           gzip of `size` zero bytes (a few KB on the wire)
    /gzip-json, /deflate-json, /raw-deflate-json  compressed JSON {"compressed": true}
    /encoded [encoding]         a body labelled with that Content-Encoding
    /flaky [key, failures=2]    500 for the first `failures` requests with that key, then 200
    /count                      JSON {"hits": n}: n-th request to /count since reset()
    /headers                    JSON body plus X-Request-Id and X-Total-Count headers
    /pages [page=1, size=10]    page-number pagination over 23 items: {"items", "page"}
    /cursor [cursor=0, size=10] {"data": [...], "next": "/cursor?..." or null} over 23 items
    /link-pages [page=1, size=10]  a bare array; a Link header names the next page
    /next-to [url]              {"data": [1], "next": url}: a next link anywhere
    /self-next                  {"data": [1], "next": "/self-next"}: a next link to itself
"""

from __future__ import annotations

import gzip
import json
import ssl
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ITEM_COUNT = 23


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@lru_cache(maxsize=8)
def gzip_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes (256 MiB is about 250 KB on the wire)."""
    return gzip.compress(b"\0" * size, compresslevel=9)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, on a kept-alive connection
    # the body waits for the client's delayed ACK (40 ms), which no real server makes
    # anyone wait for.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET  # noqa: N815

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(self.command, parts.path, query,
                                  {k.lower(): v for k, v in self.headers.items()}, body)
        owner = self.server.owner
        hits = owner.record(request)
        route = getattr(self, "route_" + parts.path.strip("/").replace("-", "_"), None)
        if route is None:
            self.send_json({"error": "not found", "path": parts.path}, 404)
            return
        route(request, query, hits)

    # -- helpers -------------------------------------------------------------------------
    def send_body(self, body: bytes, status: int = 200, content_type: str | None = "text/plain",
                  headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        keep_alive = self.server.owner.keep_alive
        if not keep_alive:
            self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (aborted or timed out): that is what tests test
        self.close_connection = not keep_alive

    def send_json(self, value: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> None:
        self.send_body(json.dumps(value).encode(), status, "application/json", headers)

    def redirect(self, location: str, status: int) -> None:
        self.send_body(b"", status, headers={"Location": location})

    def wait(self, seconds: float) -> None:
        self.server.owner.release.wait(seconds)

    # -- routes --------------------------------------------------------------------------
    def route_json(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        self.send_json({"hello": "world", "items": [1, 2, 3]})

    def route_text(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        self.send_body(b"plain text body")

    def route_say(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        code = int(query.get("code", "200"))
        if code == 204:  # no body allowed (Go's server drops it too)
            self.route_no_content(request, query, hits)
            return
        self.send_body(query.get("text", "").encode(), code,
                       content_type="text/plain; charset=utf-8")

    def route_html(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        self.send_body(b"<p>hello</p>", content_type="text/html; charset=utf-8")

    def route_bad_json(self, request: RecordedRequest, query: dict[str, str],
                       hits: int) -> None:
        self.send_body(b"{not json", content_type="application/json")

    def route_body(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        self.send_body(query.get("text", "").encode(), content_type=query.get("type"))

    def route_echo(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        self.send_json({"method": request.method, "path": request.path, "query": query,
                        "headers": request.headers,
                        "body": request.body.decode("utf-8", errors="replace")})

    def route_status(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        code = int(query.get("code", "200"))
        self.send_json({"status": code}, code)

    def route_no_content(self, request: RecordedRequest, query: dict[str, str],
                         hits: int) -> None:
        self.send_response(204)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def route_slow(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        delay = float(query.get("delay", "0.2"))
        self.wait(delay)
        self.send_json({"slept": delay})

    def route_items(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        self.wait(float(query.get("delay", "0")))
        name = query.get("set", "a")
        self.send_json({"data": [{"id": f"{name}{i}", "active": i % 2 == 0}
                                 for i in range(int(query.get("count", "6")))]})

    def route_gate(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        """Answers once the test opens the gate (`server.gate.set()`), or after 20 s."""
        self.server.owner.gate.wait(20.0)
        self.send_json({"gated": True})

    def route_hang(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        self.wait(30.0)
        self.send_json({"hung": True})

    def route_drip(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        size, interval = int(query.get("size", "10")), float(query.get("interval", "0.1"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for _ in range(size):
                self.wfile.write(b"x")
                self.wfile.flush()
                if self.server.owner.release.wait(interval):
                    return
        except OSError:
            pass

    def route_redirect(self, request: RecordedRequest, query: dict[str, str],
                       hits: int) -> None:
        n, status = int(query.get("n", "1")), int(query.get("status", "302"))
        if n <= 0:
            self.send_json({"redirected": True, "method": request.method,
                            "body": request.body.decode(),
                            "authorization": request.headers.get("authorization")})
        else:
            self.redirect(f"/redirect?n={n - 1}&status={status}", status)

    def route_redirect_to(self, request: RecordedRequest, query: dict[str, str],
                          hits: int) -> None:
        self.redirect(query["url"], int(query.get("status", "302")))

    def route_huge(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        size = int(query.get("size", str(1024 * 1024)))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"x" * 65536
        try:
            while size > 0:
                self.wfile.write(chunk[:size])
                size -= len(chunk)
        except OSError:
            pass  # the client stopped reading past its cap

    def route_gzip_bomb(self, request: RecordedRequest, query: dict[str, str],
                        hits: int) -> None:
        body = gzip_bomb(int(query.get("size", str(1024 * 1024 * 1024))))
        self.send_body(body, content_type="application/octet-stream",
                       headers={"Content-Encoding": "gzip"})

    def route_gzip_json(self, request: RecordedRequest, query: dict[str, str],
                        hits: int) -> None:
        self.send_body(gzip.compress(b'{"compressed": true}'), content_type="application/json",
                       headers={"Content-Encoding": "gzip"})

    def route_deflate_json(self, request: RecordedRequest, query: dict[str, str],
                           hits: int) -> None:
        self.send_body(zlib.compress(b'{"compressed": true}'), content_type="application/json",
                       headers={"Content-Encoding": "deflate"})

    def route_raw_deflate_json(self, request: RecordedRequest, query: dict[str, str],
                               hits: int) -> None:
        squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = squeezer.compress(b'{"compressed": true}') + squeezer.flush()
        self.send_body(body, content_type="application/json",
                       headers={"Content-Encoding": "deflate"})

    def route_encoded(self, request: RecordedRequest, query: dict[str, str],
                      hits: int) -> None:
        self.send_body(b"\x00\x01", headers={"Content-Encoding": query.get("encoding", "br")})

    def route_flaky(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        attempt = self.server.owner.bump("flaky:" + query.get("key", ""))
        if attempt <= int(query.get("failures", "2")):
            self.send_json({"error": "try again", "attempt": attempt}, 500)
        else:
            self.send_json({"ok": True, "attempt": attempt})

    def route_count(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        self.send_json({"hits": hits})

    def route_headers(self, request: RecordedRequest, query: dict[str, str],
                      hits: int) -> None:
        self.send_json({"ok": True}, headers={"X-Request-Id": "req-42",
                                              "X-Total-Count": str(ITEM_COUNT)})

    def route_pages(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        page, size = int(query.get("page", "1")), int(query.get("size", "10"))
        start = (page - 1) * size
        items = [{"id": i} for i in range(start + 1, min(start + size, ITEM_COUNT) + 1)]
        self.send_json({"items": items, "page": page})

    def route_cursor(self, request: RecordedRequest, query: dict[str, str], hits: int) -> None:
        cursor, size = int(query.get("cursor", "0")), int(query.get("size", "10"))
        items = [{"id": i} for i in range(cursor + 1, min(cursor + size, ITEM_COUNT) + 1)]
        more = cursor + size < ITEM_COUNT
        self.send_json({"data": items,
                        "next": f"/cursor?cursor={cursor + size}&size={size}" if more else None,
                        "next_cursor": str(cursor + size) if more else None})

    def route_link_pages(self, request: RecordedRequest, query: dict[str, str],
                         hits: int) -> None:
        page, size = int(query.get("page", "1")), int(query.get("size", "10"))
        start = (page - 1) * size
        items = [{"id": i} for i in range(start + 1, min(start + size, ITEM_COUNT) + 1)]
        headers = {}
        if start + size < ITEM_COUNT:
            headers["Link"] = (f'</link-pages?page=1&size={size}>; rel="first", '
                               f'<{self.server.owner.url("/link-pages")}?page={page + 1}'
                               f'&size={size}>; rel="next"')
        self.send_json(items, headers=headers)

    def route_next_to(self, request: RecordedRequest, query: dict[str, str],
                      hits: int) -> None:
        self.send_json({"data": [1], "next": query["url"]})

    def route_self_next(self, request: RecordedRequest, query: dict[str, str],
                        hits: int) -> None:
        self.send_json({"data": [1], "next": "/self-next"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: the default backlog of 5 drops SYNs when 8 parallel branches connect at once, and
    #: each dropped SYN costs a 1 s retransmit: a stall that is the test server's, not ours
    request_queue_size = 64
    owner: LoopbackHTTPServer

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.owner._lock:
            self.owner.connections += 1
        super().process_request(request, client_address)


class LoopbackHTTPServer:
    """A threaded http.server bound to 127.0.0.1 on a free port; HTTPS with `ssl_context`."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None,
                 keep_alive: bool = False) -> None:
        #: keep connections open between requests (routes answered by send_body); off by
        #: default so that each request of a test is its own connection
        self.keep_alive = keep_alive
        self.connections = 0  # accepted, for tests that count them
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._server.owner = self
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []
        self._counters: dict[str, int] = {}
        #: set when the server stops: wakes /slow, /hang and /drip handlers
        self.release = threading.Event()
        #: /gate answers once this is set (cleared by reset): a test holds a run at a
        #: known point while it acts
        self.gate = threading.Event()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def start(self) -> LoopbackHTTPServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="loopback-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """Forget recorded requests and counters (between tests)."""
        with self._lock:
            self.requests.clear()
            self._counters.clear()
        self.gate.clear()

    def record(self, request: RecordedRequest) -> int:
        with self._lock:
            self.requests.append(request)
        return self.bump("path:" + request.path)

    def bump(self, key: str) -> int:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + 1
            return self._counters[key]

    def hits(self, path: str) -> int:
        with self._lock:
            return self._counters.get("path:" + path, 0)

    def last(self, path: str) -> RecordedRequest:
        with self._lock:
            return next(r for r in reversed(self.requests) if r.path == path)

    def wait_for_hits(self, path: str, count: int, timeout: float = 5.0) -> bool:
        """Wait until `path` was requested `count` times (for calls made by other threads)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.hits(path) >= count:
                return True
            time.sleep(0.005)
        return False


def tls_contexts(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client trust) for an HTTPS loopback server whose certificate names
    `name`, issued by a throwaway CA made in `directory` with the openssl command."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=Thaiyyal Test CA")
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={name}")
    (directory / "ext.cnf").write_text(f"subjectAltName=DNS:{name}\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "1", "-extfile", "ext.cnf")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    return server_context, ssl.create_default_context(cafile=str(directory / "ca.pem"))
