"""Which IP addresses the guard refuses: loopback, private, link-local, metadata and the
IPv6 forms that carry one of those.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from engine.egress.errors import EgressRefused, IPAddress, IPNetwork

if TYPE_CHECKING:
    from engine.egress.policy import EgressPolicy

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


