"""What http nodes may reach: the operator's policy and the errors a refused or failed
call raises.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from engine.egress.addresses import _embedded_ipv4
from engine.egress.errors import (
    IPAddress,
    IPNetwork,
)
from engine.limits import Limits, MiB

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


