"""The only way out to the network: an SSRF-guarded HTTP/1.1 client.

Nothing else in the code base opens a socket (tests/engine/test_no_other_http_clients.py
fails if anything else imports an HTTP client). Every call goes through the same steps:

1. `check_url` parses the URL (http/https only), normalises the host (decimal, octal, hex
   and short IPv4 forms included), resolves a name exactly once, and refuses the call if
   any address is loopback, private, shared, link-local, multicast, unspecified, reserved,
   an IPv4-mapped/compatible/6to4/NAT64 form of one of those, or a cloud metadata address,
   unless the operator's allowlist (`EgressPolicy`) names the host or the network.
2. The connection goes to the checked address (no second lookup: DNS rebinding cannot
   swap it), while the Host header, TLS SNI and certificate check use the URL's host.
3. Redirects are followed by hand, each hop checked again from step 1.
4. The decoded response body is counted while it streams and the call stops past the
   cap, so a gzip bomb never inflates in memory.
5. One deadline bounds connect, TLS, request and response together; a watchdog and the
   caller's cancel hook shut the socket down the moment either fires.
"""

from __future__ import annotations

import errno
import heapq
import http.client
import ipaddress
import itertools
import os
import re
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
import urllib3.exceptions

from engine.errors import LimitExceeded, NodeError
from engine.limits import Limits, MiB

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: resolver(host, port, timeout) -> addresses as strings; replaceable for tests
Resolver = Callable[[str, int, float], Sequence[str]]


class EgressError(NodeError):
    """An HTTP call failed on the way: connection refused, reset, bad response..."""

    code = "http_error"


class EgressRefused(EgressError):
    """The guard refused the call. The message names the rule that refused it."""

    code = "egress_refused"
    #: the same URL is refused again on every attempt
    retryable = False


class EgressTimeout(EgressError):
    """The call did not finish within its connect or total timeout."""

    code = "http_timeout"


# ---------------------------------------------------------------------------------------
# Policy


def _network(text: str) -> IPNetwork:
    return ipaddress.ip_network(text.strip(), strict=False)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What the client may reach, and its bounds. The default refuses everything private.

    `allowed_hosts` are exact host names or IP literals, or `*.example.com` to allow the
    subdomains of example.com; a call to an allowed host skips the address checks.
    `allowed_networks` are CIDRs (`10.1.0.0/16`, `127.0.0.1/32`) whose addresses may be
    reached whatever their kind. Both accept any iterable of strings.
    """

    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()
    max_redirects: int = 5
    max_response_bytes: int = 10 * MiB
    connect_timeout: float = 5.0
    total_timeout: float = 30.0

    def __post_init__(self) -> None:
        hosts = frozenset(h.strip().lower().rstrip(".") for h in self.allowed_hosts if h.strip())
        networks = tuple(n if isinstance(n, ipaddress.IPv4Network | ipaddress.IPv6Network)
                         else _network(n) for n in self.allowed_networks)
        object.__setattr__(self, "allowed_hosts", hosts)
        object.__setattr__(self, "allowed_networks", networks)
        if self.max_redirects < 0 or self.max_response_bytes <= 0:
            raise ValueError("max_redirects must be >= 0 and max_response_bytes > 0")
        if self.connect_timeout <= 0 or self.total_timeout <= 0:
            raise ValueError("timeouts must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EgressPolicy:
        """Read THAIYYAL_HTTP_ALLOWED_HOSTS and THAIYYAL_HTTP_ALLOWED_NETWORKS
        (comma-separated). A malformed network raises ValueError naming the variable."""
        hosts = [h for h in environ.get("THAIYYAL_HTTP_ALLOWED_HOSTS", "").split(",") if h.strip()]
        networks = []
        for text in environ.get("THAIYYAL_HTTP_ALLOWED_NETWORKS", "").split(","):
            if not text.strip():
                continue
            try:
                networks.append(_network(text))
            except ValueError as exc:
                raise ValueError(f"THAIYYAL_HTTP_ALLOWED_NETWORKS: {exc}") from exc
        return cls(allowed_hosts=frozenset(hosts), allowed_networks=tuple(networks))

    def bounded_by(self, limits: Limits) -> EgressPolicy:
        """This policy with each bound lowered to the run's limit where that is tighter."""
        return replace(
            self,
            max_redirects=min(self.max_redirects, limits.max_http_redirects),
            max_response_bytes=min(self.max_response_bytes, limits.max_http_response_bytes),
            connect_timeout=min(self.connect_timeout, limits.http_connect_timeout),
            total_timeout=min(self.total_timeout, limits.http_timeout),
        )

    def host_allowed(self, host: str) -> bool:
        if host in self.allowed_hosts:
            return True
        return any(p.startswith("*.") and host.endswith(p[1:]) for p in self.allowed_hosts)

    def address_allowed(self, ip: IPAddress) -> bool:
        candidates = [ip]
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            candidates.append(embedded[1])
        return any(c.version == n.version and c in n
                   for c in candidates for n in self.allowed_networks)


_default_policy: tuple[tuple[str, str], EgressPolicy] | None = None


def default_policy() -> EgressPolicy:
    """The policy from the process environment (re-read when the variables change)."""
    global _default_policy
    key = (os.environ.get("THAIYYAL_HTTP_ALLOWED_HOSTS", ""),
           os.environ.get("THAIYYAL_HTTP_ALLOWED_NETWORKS", ""))
    cached = _default_policy
    if cached is None or cached[0] != key:
        cached = (key, EgressPolicy.from_env(os.environ))
        _default_policy = cached
    return cached[1]


# ---------------------------------------------------------------------------------------
# Address rules


def _rules(table: Iterable[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in table)


_METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure, OpenStack, DigitalOcean instance metadata
    "169.254.170.2",     # AWS ECS task metadata
    "169.254.169.253",   # AWS VPC DNS
    "100.100.100.200",   # Alibaba Cloud metadata
    "192.0.0.192",       # Oracle Cloud metadata
    "168.63.129.16",     # Azure wire server: a public address, so only this rule stops it
    "fd00:ec2::254",     # AWS IMDS over IPv6
    "fd20:ce::254",      # GCP metadata over IPv6
))

_METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog",
    "instance-data", "instance-data.ec2.internal",
})

_V4_RULES = _rules((
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (RFC 6598, carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
    ("192.0.2.0/24", "reserved (documentation)"),
    ("192.88.99.0/24", "reserved (6to4 relay anycast)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "reserved (benchmarking)"),
    ("198.51.100.0/24", "reserved (documentation)"),
    ("203.0.113.0/24", "reserved (documentation)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (including broadcast)"),
))

_V6_RULES = _rules((
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/8", "reserved"),
    ("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
    ("100::/64", "reserved (discard-only)"),
    ("2001::/23", "reserved (IETF protocol assignments, Teredo)"),
    ("2001:db8::/32", "reserved (documentation)"),
    ("fc00::/7", "unique local (fc00::/7)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
))

# IPv6 forms that carry an IPv4 address: the IPv4 inside decides.
_EMBEDDING = _rules((
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::ffff:0:0:0/96", "IPv4-translated"),
    ("::/96", "IPv4-compatible"),
    ("64:ff9b::/96", "NAT64"),
))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


def _embedded_ipv4(ip: IPAddress) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.version != 6:
        return None
    if ip in _SIX_TO_FOUR:
        return "6to4", ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    for net, kind in _EMBEDDING:
        if ip in net and ip not in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
            return kind, ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why the guard refuses `ip` ("loopback", "private (RFC 1918)", ...), or None if public."""
    if ip in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        kind, inner = embedded
        why = blocked_reason(inner)
        return None if why is None else f"{kind} {inner}, which is {why}"
    for net, why in _V4_RULES if ip.version == 4 else _V6_RULES:
        if ip in net:
            return why
    if not ip.is_global:
        return "not globally routable (reserved)"
    return None


def check_address(ip: IPAddress | str, policy: EgressPolicy, host: str | None = None) -> None:
    """Raise EgressRefused if `ip` may not be reached under `policy`."""
    address = ip if not isinstance(ip, str) else _parse_ip_literal(ip)
    if policy.address_allowed(address):
        return
    why = blocked_reason(address)
    if why is None:
        return
    if host is not None and host != str(address):
        raise EgressRefused(f"refused: {host} resolves to {address}, which is {why}")
    raise EgressRefused(f"refused: {address} is {why}")


def _parse_ip_literal(text: str) -> IPAddress:
    if "%" in text:
        raise EgressRefused(f"refused: scoped IPv6 address {text!r} not allowed")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise EgressRefused(f"refused: {text!r} is not an IP address") from None


# ---------------------------------------------------------------------------------------
# URL checks

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_IPV4_PART = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
MAX_URL_LENGTH = 8192
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host means to inet_aton and browsers, or None when the
    host is a name. `2130706433`, `0x7f.1`, `0177.0.0.1` and `127.1` all mean 127.0.0.1.
    A host that ends in a number but is not a valid address raises EgressRefused."""
    parts = host.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if not _IPV4_PART.match(parts[-1]):
        return None
    if len(parts) > 4 or not all(_IPV4_PART.match(p) for p in parts):
        raise EgressRefused(f"refused: malformed numeric host {host!r}")
    numbers = []
    for part in parts:
        if part.startswith("0x"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                raise EgressRefused(f"refused: malformed numeric host {host!r}")
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise EgressRefused(f"refused: malformed numeric host {host!r}")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (`addresses`) and what to ask for."""

    url: str
    scheme: str
    host: str                 # normalised: lower case, IDNA, no brackets, no trailing dot
    port: int
    request_target: str       # path and query, as sent on the request line
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def _split(url: str) -> tuple[str, str, int, str, bool]:
    """(scheme, raw host, port, request target, host is bracketed) or EgressRefused."""
    if not isinstance(url, str) or not url:
        raise EgressRefused("refused: empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise EgressRefused(f"refused: URL longer than {MAX_URL_LENGTH} characters")
    if _UNSAFE_CHARS.search(url):
        raise EgressRefused("refused: URL contains whitespace, control characters or '\\'")
    parts = urlsplit(url)
    if parts.scheme and parts.scheme not in _DEFAULT_PORTS:
        raise EgressRefused(f"refused: scheme {parts.scheme!r} not allowed (only http, https)")
    if not parts.scheme or not parts.netloc:
        raise EgressRefused(f"refused: URL {url!r} is not absolute (use http:// or https://)")
    if "@" in parts.netloc:
        raise EgressRefused("refused: credentials in the URL are not allowed "
                            "(send them in headers or an http client's auth)")
    host = parts.hostname
    if not host:
        raise EgressRefused(f"refused: URL {url!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise EgressRefused(f"refused: malformed port in {url!r}") from None
    if port == 0:
        raise EgressRefused("refused: port 0 not allowed")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    return parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], target, bracketed


def _normalise_name(host: str) -> str:
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise EgressRefused(f"refused: malformed host {host!r}") from None
    host = host.lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if len(host) > 253 or not _HOSTNAME.match(host):
        raise EgressRefused(f"refused: malformed host {host!r}")
    return host


def check_url(url: str, policy: EgressPolicy, resolver: Resolver | None = None,
              timeout: float = 5.0) -> Target:
    """Parse, normalise, resolve once and check `url`. Returns the Target to connect to;
    raises EgressRefused naming the rule, or EgressError if the host does not resolve."""
    scheme, raw_host, port, request_target, bracketed = _split(url)
    if bracketed:
        ip: IPAddress | None = _parse_ip_literal(raw_host)
        host = str(ip)
    else:
        host = _normalise_name(raw_host)
        ip = parse_ipv4_loose(host)
    if ip is not None:
        exempt = (policy.host_allowed(host) or policy.host_allowed(str(ip))
                  or policy.address_allowed(ip))
        why = None if exempt else blocked_reason(ip)
        if why is not None:
            shown = str(ip) if host == str(ip) else f"{host} (= {ip})"  # say what it meant
            raise EgressRefused(f"refused: {shown} is {why}")
        return Target(url, scheme, str(ip), port, request_target, (str(ip),))
    allowed = policy.host_allowed(host)
    if not allowed:
        if host == "localhost" or host.endswith(".localhost"):
            raise EgressRefused(f"refused: {host} is loopback")
        if host in _METADATA_HOSTS:
            raise EgressRefused(f"refused: {host} is a cloud metadata host")
    addresses = (resolver or resolve)(host, port, timeout)
    if not addresses:
        raise EgressError(f"could not resolve {host}: no addresses")
    checked = []
    for text in addresses:
        address = _parse_ip_literal(text.split("%", 1)[0] if allowed else text)
        if not allowed:
            check_address(address, policy, host)
        checked.append(str(address))
    return Target(url, scheme, host, port, request_target, tuple(dict.fromkeys(checked)))


_dns_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="thaiyyal-dns")


def resolve(host: str, port: int, timeout: float) -> list[str]:
    """The default resolver: getaddrinfo, bounded by `timeout` (it has none of its own)."""
    future = _dns_pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(0.001, timeout))
    except FutureTimeout:
        raise EgressTimeout(f"resolving {host} timed out after {timeout:g}s") from None
    except OSError as exc:
        raise EgressError(f"could not resolve {host}: {exc.strerror or exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


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


# ---------------------------------------------------------------------------------------
# Requests and responses


@dataclass(frozen=True, slots=True)
class Request:
    """What to send. `sensitive_headers` (lower case) are dropped, with Authorization,
    Cookie and Proxy-Authorization, when a redirect leaves the original origin."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    sensitive_headers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response. `headers` has lower-case names; repeated headers are joined
    with ", ". `url` is the final URL after redirects; `elapsed` is in seconds."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    url: str
    elapsed: float
    redirects: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return "utf-8"

    @property
    def nbytes(self) -> int:
        """Roughly what the response occupies in a cache."""
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers.items()) + 64

    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


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


@dataclass(frozen=True, slots=True)
class EgressClient:
    """The guarded HTTP client. `resolver`, `connector` and `ssl_context` are injection
    points (tests replace the connector with a recorder that fails if it is ever reached)."""

    policy: EgressPolicy = field(default_factory=EgressPolicy)
    resolver: Resolver = resolve
    connector: Connector = connect
    ssl_context: ssl.SSLContext | None = None

    def bounded_by(self, limits: Limits) -> EgressClient:
        return replace(self, policy=self.policy.bounded_by(limits))

    def fetch(self, request: Request, *, deadline: float | None = None,
              cancel: Callable[[Callable[[], None]], Callable[[], None]] | None = None,
              before_send: Callable[[str], None] | None = None) -> Response:
        """Send `request`, following redirects (each hop checked again), and return the
        final response whatever its status.

        `deadline` (time.monotonic()) bounds the whole call with the policy's total
        timeout; `cancel` registers an abort callback and returns its unregister function
        (pass `run.on_cancel`); `before_send(url)` runs before each request goes out
        (count calls there; raising stops the call).
        """
        started = time.monotonic()
        policy = self.policy
        end = started + policy.total_timeout
        if deadline is not None:
            end = min(end, deadline)
        method, url = request.method.upper(), request.url
        headers, body = dict(request.headers), request.body
        origin: tuple[str, str, int] | None = None
        for hop in range(policy.max_redirects + 1):
            left = end - time.monotonic()
            if left <= 0:
                raise EgressTimeout(f"{method} {url} timed out before it was sent")
            try:
                target = check_url(url, policy, self.resolver,
                                   min(policy.connect_timeout, left))
            except EgressRefused as exc:
                if hop:  # say where the hop came from: the URL the user wrote looked fine
                    raise EgressRefused(f"{exc} (redirect {hop} from {request.url})") from None
                raise
            if origin is None:
                origin = target.origin
            elif target.origin != origin:
                headers = {k: v for k, v in headers.items() if k.lower() not in
                           _ALWAYS_SENSITIVE | request.sensitive_headers}
            if before_send is not None:
                before_send(url)
            status, reason, got, payload = self._exchange(target, method, headers, body, end,
                                                          cancel)
            location = got.get("location")
            if status not in _REDIRECTS or not location:
                return Response(status, reason, got, payload, url, time.monotonic() - started,
                                hop)
            url = urljoin(url, location)
            if status == 303 or (status in (301, 302) and method == "POST"):
                if method != "HEAD":
                    method, body = "GET", None
                headers = {k: v for k, v in headers.items()
                           if k.lower() not in ("content-type", "content-length")}
        raise LimitExceeded("max_http_redirects", policy.max_redirects,
                            detail=f"{request.url} redirects more than "
                                   f"{policy.max_redirects} times")

    def _exchange(self, target: Target, method: str, headers: Mapping[str, str],
                  body: bytes | None, end: float,
                  cancel: Callable[[Callable[[], None]], Callable[[], None]] | None,
                  ) -> tuple[int, str, dict[str, str], bytes]:
        abort = CallAbort()
        unwatch = _watchdog.watch(end, lambda: abort.abort("timeout"))
        unregister = cancel(lambda: abort.abort("cancelled")) if cancel else None
        try:
            return self._pooled_exchange(target, method, headers, body, end, abort)
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            raise _failure(abort, method, target, end, _root_cause(exc)) from None
        finally:
            unwatch()
            if unregister is not None:
                unregister()

    def _pooled_exchange(self, target: Target, method: str, headers: Mapping[str, str],
                         body: bytes | None, end: float,
                         abort: CallAbort) -> tuple[int, str, dict[str, str], bytes]:
        """One request on a kept-alive connection to one of the target's checked
        addresses (a new one when none is idle), its body read by our own reader."""
        last: BaseException | None = None
        for address in target.addresses:  # every one was checked; try them in order
            left = end - time.monotonic()
            if left <= 0 or abort.reason is not None:
                break
            pool = _pools.get(target, address, self.ssl_context, self.connector)
            _current.call = (self.connector, abort, min(self.policy.connect_timeout, left))
            try:
                response = pool.urlopen(
                    method, target.request_target, body=body,
                    headers=_request_headers(target, headers), retries=False, redirect=False,
                    assert_same_host=False, preload_content=False, decode_content=False,
                    release_conn=False, timeout=urllib3.Timeout(
                        connect=min(self.policy.connect_timeout, left), read=max(0.001, left)))
            except ValueError as exc:  # header or request-line injection attempts land here
                raise EgressError(f"{method} {target.url}: invalid request: {exc}") from None
            except urllib3.exceptions.NewConnectionError as exc:
                last = exc
                continue
            except (urllib3.exceptions.ProtocolError, OSError) as exc:
                cause = _root_cause(exc)
                if isinstance(cause, ConnectionRefusedError | _ConnectFailed):
                    last = cause
                    continue
                raise
            finally:
                _current.call = None
            return _read_response(response, target, method, abort,
                                  self.policy.max_response_bytes)
        if isinstance(last, _ConnectFailed):
            last = last.__cause__ or last
        if last is not None:
            raise last
        raise ConnectionAbortedError(abort.reason or "timeout")


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


class _CheckedHTTPSConnection(urllib3.connection.HTTPSConnection):
    """The same over TLS: SNI and the certificate check use the URL's host name."""

    def _new_conn(self) -> socket.socket:
        return _checked_connect(self)

    def connect(self) -> None:
        super().connect()
        _current.call[1].attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _current.call[1].attach(self.sock)
        super().request(*args, **kwargs)


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


def _failure(abort: CallAbort, method: str, target: Target, end: float,
             exc: BaseException) -> EgressError:
    where = f"{method} {target.url}"
    timed_out = isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError)
    if abort.reason == "timeout" or timed_out or time.monotonic() >= end:
        return EgressTimeout(f"{where} timed out")
    if abort.reason == "cancelled":
        return EgressError(f"{where} was cancelled")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError | urllib3.exceptions.SSLError):
        return EgressError(f"{where}: TLS failed: {exc}")
    if isinstance(exc, ConnectionRefusedError):
        return EgressError(f"{where}: connection refused")
    if isinstance(exc, http.client.IncompleteRead | http.client.RemoteDisconnected
                  | urllib3.exceptions.ProtocolError):
        return EgressError(f"{where}: connection closed before the response was complete")
    return EgressError(f"{where}: {exc.__class__.__name__}: {exc}")


def fetch(request: Request, policy: EgressPolicy | None = None, *,
          deadline: float | None = None,
          cancel: Callable[[Callable[[], None]], Callable[[], None]] | None = None,
          before_send: Callable[[str], None] | None = None) -> Response:
    """`EgressClient(policy).fetch(...)` with the default resolver and connector;
    without a policy, the one from the environment (`default_policy()`)."""
    client = EgressClient(policy or default_policy())
    return client.fetch(request, deadline=deadline, cancel=cancel, before_send=before_send)
