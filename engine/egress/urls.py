"""Checking a URL: parsing, host normalisation, one resolution, every address checked.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.egress.addresses import (
    _METADATA_HOSTS,
    _parse_ip_literal,
    blocked_reason,
    check_address,
)
from engine.egress.errors import EgressError, EgressRefused, EgressTimeout, IPAddress, Resolver
from engine.egress.policy import EgressPolicy

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


