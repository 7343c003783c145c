"""The SSRF guard, tested where it decides: no test here sends a packet anywhere.

Every fetch below runs with a resolver that answers from a table (never real DNS) and a
connector that fails the test if it is reached, unless the test expects the guard to let
the call through, in which case the connector records the address and refuses.
"""

from __future__ import annotations

import ipaddress

import pytest

from engine.egress import (
    CallAbort,
    EgressClient,
    EgressError,
    EgressPolicy,
    EgressRefused,
    Request,
    blocked_reason,
    check_url,
    default_policy,
    parse_ipv4_loose,
)
from engine.errors import NodeError

DNS = {
    "internal.example": ["10.1.2.3"],
    "mixed.example": ["93.184.216.34", "192.168.1.1"],
    "v6private.example": ["fd12::1"],
    "metadata-alias.example": ["169.254.169.254"],
    "mapped.example": ["::ffff:10.0.0.1"],
    "loopback-alias.example": ["127.0.0.1"],
    "public.example": ["93.184.216.34"],
    "public6.example": ["2606:4700::6810:84e5"],
}


class FakeResolver:
    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = DNS if table is None else table
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, timeout: float) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            pytest.fail(f"resolver asked for {host!r}: tests never use real DNS")
        return self.table[host]


def never_connect(address: str, port: int, timeout: float, abort: CallAbort):
    pytest.fail(f"the guard let a call through to {address}:{port}")


class RecordingConnector:
    """Records where the client would connect, then refuses: no packet leaves."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, address: str, port: int, timeout: float, abort: CallAbort):
        self.calls.append((address, port))
        raise ConnectionRefusedError("recorded, not connected")


def guarded(policy: EgressPolicy | None = None, resolver: FakeResolver | None = None,
            connector=never_connect) -> EgressClient:
    return EgressClient(policy or EgressPolicy(), resolver=resolver or FakeResolver(),
                        connector=connector)


# (url, a fragment of the refusal message that names the rule)
SSRF_TABLE = [
    ("http://127.0.0.1/", "127.0.0.1 is loopback"),
    ("http://127.0.0.2:8080/admin", "loopback"),
    ("http://localhost/", "localhost is loopback"),
    ("http://api.localhost/", "loopback"),
    ("http://LOCALHOST./", "loopback"),
    ("http://[::1]/", "::1 is loopback"),
    ("http://[0:0:0:0:0:0:0:1]/", "loopback"),
    ("http://2130706433/", "2130706433 (= 127.0.0.1) is loopback"),
    ("http://0x7f000001/", "(= 127.0.0.1) is loopback"),
    ("http://0x7f.1/", "0x7f.1 (= 127.0.0.1) is loopback"),
    ("http://0177.0.0.1/", "(= 127.0.0.1) is loopback"),
    ("http://0x7f.0x0.0x0.0x1/", "(= 127.0.0.1) is loopback"),
    ("http://127.1/", "127.1 (= 127.0.0.1) is loopback"),
    ("http://0177.1/", "(= 127.0.0.1) is loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("http://10.0.0.1/", "10.0.0.1 is private (RFC 1918)"),
    ("http://172.16.5.4/", "private (RFC 1918)"),
    ("http://172.31.255.255/", "private (RFC 1918)"),
    ("http://192.168.1.1:8443/", "private (RFC 1918)"),
    ("http://012.0.0.1/", "(= 10.0.0.1) is private (RFC 1918)"),
    ("http://0xa.0.0.1/", "(= 10.0.0.1) is private"),
    ("http://167772161/", "(= 10.0.0.1) is private"),
    ("http://100.64.0.1/", "shared address space"),
    ("http://100.127.255.254/", "shared address space"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://0xa9fea9fe/", "(= 169.254.169.254) is a cloud metadata address"),
    ("http://2852039166/", "(= 169.254.169.254) is a cloud metadata address"),
    ("http://0251.0376.0251.0376/", "cloud metadata"),
    ("http://169.254.170.2/v2/credentials", "cloud metadata"),
    ("http://100.100.100.200/latest/meta-data", "cloud metadata"),
    ("http://168.63.129.16/machine", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest", "cloud metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata host"),
    ("http://METADATA.GOOGLE.INTERNAL./", "cloud metadata host"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://192.0.2.1/", "reserved (documentation)"),
    ("http://198.18.0.1/", "reserved (benchmarking)"),
    ("http://[fc00::1]/", "unique local"),
    ("http://[fd12:3456::1]/", "unique local"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped 127.0.0.1, which is loopback"),
    ("http://[0:0:0:0:0:ffff:7f00:1]/", "IPv4-mapped 127.0.0.1"),
    ("http://[::ffff:a9fe:a9fe]/", "IPv4-mapped 169.254.169.254, which is a cloud metadata"),
    ("http://[::ffff:10.0.0.1]/", "IPv4-mapped 10.0.0.1, which is private"),
    ("http://[::127.0.0.1]/", "IPv4-compatible 127.0.0.1"),
    ("http://[2002:7f00:1::]/", "6to4 127.0.0.1, which is loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 169.254.169.254"),
    ("http://[64:ff9b::10.0.0.1]/", "NAT64 10.0.0.1, which is private"),
    ("http://[::ffff:0:7f00:1]/", "IPv4-translated 127.0.0.1, which is loopback"),
    ("http://[::1:2:3:4]/", "reserved"),
    ("http://internal.example/", "internal.example resolves to 10.1.2.3, which is private"),
    ("http://mixed.example/", "resolves to 192.168.1.1, which is private"),
    ("http://v6private.example/", "resolves to fd12::1, which is unique local"),
    ("http://metadata-alias.example/", "resolves to 169.254.169.254, which is a cloud metadata"),
    ("http://mapped.example/", "IPv4-mapped 10.0.0.1"),
    ("http://loopback-alias.example:8000/", "resolves to 127.0.0.1, which is loopback"),
    ("file:///etc/passwd", "scheme 'file' not allowed"),
    ("gopher://127.0.0.1:70/_stats", "scheme 'gopher' not allowed"),
    ("ftp://public.example/", "scheme 'ftp' not allowed"),
    ("dict://127.0.0.1:11211/", "scheme 'dict' not allowed"),
    ("http://user:secret@public.example/", "credentials in the URL"),
    ("http://public.example@127.0.0.1/", "credentials in the URL"),
    ("http://93.184.216.34:0/", "port 0"),
    ("http://1.2.3.4.5/", "malformed numeric host"),
    ("http://256.1.1.1/", "malformed numeric host"),
    ("http://08.0.0.1/", "malformed numeric host"),
    ("http://[fe80::1%25eth0]/", "scoped IPv6"),
    ("http://127.0.0.1\t/", "whitespace, control characters"),
    ("http://public.example\\@127.0.0.1/", "'\\'"),
    ("http://%31%32%37.0.0.1/", "malformed host"),
    ("/relative/path", "not absolute"),
    ("javascript:alert(1)", "scheme 'javascript' not allowed"),
    ("//127.0.0.1/", "not absolute"),
    ("", "empty URL"),
]


def test_ssrf_table_has_at_least_forty_urls():
    assert len(SSRF_TABLE) >= 40


@pytest.mark.parametrize(("url", "rule"), SSRF_TABLE)
def test_guard_refuses_and_names_the_rule(url, rule):
    resolver = FakeResolver()
    with pytest.raises(EgressRefused) as caught:
        guarded(resolver=resolver).fetch(Request("GET", url))
    assert caught.value.message.startswith("refused")
    assert rule in caught.value.message
    assert caught.value.code == "egress_refused"
    assert isinstance(caught.value, NodeError)


@pytest.mark.parametrize("url", [
    "http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/",
    "http://[::ffff:127.0.0.1]/", "http://metadata.google.internal/", "http://localhost/",
])
def test_numeric_forms_and_blocked_names_never_reach_the_resolver(url):
    resolver = FakeResolver({})
    with pytest.raises(EgressRefused):
        guarded(resolver=resolver).fetch(Request("GET", url))
    assert resolver.calls == []


@pytest.mark.parametrize(("host", "address"), [
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("10.0.258", "10.0.1.2"),
    ("0", "0.0.0.0"),
    ("1.2.3.4.", "1.2.3.4"),
    ("0x", "0.0.0.0"),
])
def test_loose_ipv4_forms_mean_what_inet_aton_means(host, address):
    assert parse_ipv4_loose(host) == ipaddress.IPv4Address(address)


@pytest.mark.parametrize("host", ["example.com", "api.v2.example", "0x7f.example", "x1"])
def test_names_are_not_ipv4_addresses(host):
    assert parse_ipv4_loose(host) is None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::6810:84e5",
                                     "::ffff:93.184.216.34", "64:ff9b::808:808"])
def test_public_addresses_have_no_blocking_rule(address):
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_allowed_call_connects_to_the_checked_address_after_one_lookup():
    resolver, connector = FakeResolver(), RecordingConnector()
    client = guarded(resolver=resolver, connector=connector)
    with pytest.raises(EgressError, match="connection refused"):
        client.fetch(Request("GET", "http://public.example:8080/path"))
    assert resolver.calls == ["public.example"]
    assert connector.calls == [("93.184.216.34", 8080)]


def test_ipv6_names_connect_to_the_checked_ipv6_address():
    connector = RecordingConnector()
    with pytest.raises(EgressError):
        guarded(connector=connector).fetch(Request("GET", "https://public6.example/"))
    assert connector.calls == [("2606:4700::6810:84e5", 443)]


def test_dns_rebinding_cannot_swap_the_address_after_the_check():
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host: str, port: int, timeout: float) -> list[str]:
        return next(answers)

    connector = RecordingConnector()
    client = EgressClient(EgressPolicy(), resolver=rebinding, connector=connector)
    with pytest.raises(EgressError):
        client.fetch(Request("GET", "http://rebind.example/"))
    assert connector.calls == [("93.184.216.34", 80)]
    assert next(answers) == ["127.0.0.1"]  # the second answer was never asked for


def test_allowed_networks_open_an_exception_for_their_addresses_only():
    policy = EgressPolicy(allowed_networks=("10.0.0.0/8",))
    connector = RecordingConnector()
    with pytest.raises(EgressError, match="connection refused"):
        guarded(policy, connector=connector).fetch(Request("GET", "http://internal.example/"))
    assert connector.calls == [("10.1.2.3", 80)]
    with pytest.raises(EgressRefused, match="RFC 1918"):
        guarded(policy).fetch(Request("GET", "http://192.168.1.1/"))


def test_allowed_hosts_skip_the_address_checks_for_that_name():
    policy = EgressPolicy(allowed_hosts=("*.corp.example", "internal.example"))
    resolver = FakeResolver({**DNS, "db.corp.example": ["10.9.9.9"],
                             "corp.example.evil": ["10.9.9.9"]})
    connector = RecordingConnector()
    client = guarded(policy, resolver, connector)
    for url in ("http://internal.example/", "http://db.corp.example/"):
        with pytest.raises(EgressError, match="connection refused"):
            client.fetch(Request("GET", url))
    assert connector.calls == [("10.1.2.3", 80), ("10.9.9.9", 80)]
    with pytest.raises(EgressRefused):
        client.fetch(Request("GET", "http://corp.example.evil/"))


def test_allowlisted_ip_literal_covers_its_other_spellings():
    policy = EgressPolicy(allowed_hosts=("127.0.0.1",))
    connector = RecordingConnector()
    with pytest.raises(EgressError, match="connection refused"):
        guarded(policy, connector=connector).fetch(Request("GET", "http://0x7f.1:9/"))
    assert connector.calls == [("127.0.0.1", 9)]


def test_policy_reads_the_allowlist_from_the_environment():
    policy = EgressPolicy.from_env({
        "THAIYYAL_HTTP_ALLOWED_HOSTS": " API.Internal. , *.corp.example,",
        "THAIYYAL_HTTP_ALLOWED_NETWORKS": "10.1.0.0/16, 127.0.0.1",
    })
    assert policy.allowed_hosts == {"api.internal", "*.corp.example"}
    assert policy.address_allowed(ipaddress.ip_address("10.1.200.3"))
    assert policy.address_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not policy.address_allowed(ipaddress.ip_address("10.2.0.1"))


def test_a_malformed_network_in_the_environment_names_the_variable():
    with pytest.raises(ValueError, match="THAIYYAL_HTTP_ALLOWED_NETWORKS"):
        EgressPolicy.from_env({"THAIYYAL_HTTP_ALLOWED_NETWORKS": "10.0.0.0/33"})


def test_default_policy_follows_the_process_environment(monkeypatch):
    monkeypatch.delenv("THAIYYAL_HTTP_ALLOWED_HOSTS", raising=False)
    monkeypatch.delenv("THAIYYAL_HTTP_ALLOWED_NETWORKS", raising=False)
    assert default_policy() == EgressPolicy()
    monkeypatch.setenv("THAIYYAL_HTTP_ALLOWED_NETWORKS", "192.168.0.0/16")
    assert default_policy().address_allowed(ipaddress.ip_address("192.168.3.4"))


def test_check_url_returns_what_to_connect_to_and_the_host_header():
    target = check_url("https://Public.Example:8443/a/b?x=1#frag", EgressPolicy(),
                       FakeResolver())
    assert target.addresses == ("93.184.216.34",)
    assert target.request_target == "/a/b?x=1"
    assert target.host_header == "public.example:8443"
    assert check_url("http://public.example/", EgressPolicy(),
                     FakeResolver()).host_header == "public.example"


def test_refusals_are_not_retried_by_retry_policies():
    with pytest.raises(EgressRefused) as caught:
        guarded().fetch(Request("GET", "http://10.0.0.1/"))
    assert caught.value.retryable is False
