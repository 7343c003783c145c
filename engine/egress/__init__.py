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

The package, along its seams: `policy` (what may be reached, the errors), `addresses`
(which IPs are refused), `urls` (checking a URL and resolving it once), `transport`
(connecting to a checked address, kept-alive pools, the watchdog, the body reader) and
`client` (requests, responses, redirects).
"""

from engine.egress.addresses import blocked_reason, check_address
from engine.egress.client import EgressClient, Request, Response, fetch
from engine.egress.errors import (
    EgressError,
    EgressRefused,
    EgressTimeout,
    IPAddress,
    IPNetwork,
    Resolver,
)
from engine.egress.policy import EgressPolicy, default_policy
from engine.egress.transport import (
    MAX_POOLS,
    POOL_CONNECTIONS,
    POOL_IDLE_SECONDS,
    CallAbort,
    Connector,
    connect,
    default_ssl_context,
)
from engine.egress.urls import MAX_URL_LENGTH, Target, check_url, parse_ipv4_loose, resolve

# Responses are pickled by the response cache: keep their class's path stable.
Response.__module__ = __name__

__all__ = [
    "MAX_POOLS", "MAX_URL_LENGTH", "POOL_CONNECTIONS", "POOL_IDLE_SECONDS", "CallAbort",
    "Connector", "EgressClient", "EgressError", "EgressPolicy", "EgressRefused",
    "EgressTimeout", "IPAddress", "IPNetwork", "Request", "Resolver", "Response", "Target",
    "blocked_reason", "check_address", "check_url", "connect", "default_policy",
    "default_ssl_context", "fetch", "parse_ipv4_loose", "resolve",
]
