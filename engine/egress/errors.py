"""The errors an http call raises (refused by the guard, timed out, failed) and the
address types the package shares."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from engine.errors import NodeError

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


