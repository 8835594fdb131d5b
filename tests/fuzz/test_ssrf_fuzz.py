"""The outbound-safety guard against SSRF tricks: every encoding of a non-public address
(IPv4-mapped and -translated IPv6, NAT64, 6to4, decimal, octal, hex and short IPv4 forms,
0.0.0.0, CGNAT, link-local/metadata, unique-local) is refused, and so is every redirect
from an allowed loopback server to a loopback address that is not allowed.

Only loopback is ever connected to: forms that reach other networks are checked with
``check_address`` / ``resolve_and_check``, which resolve numerically and never connect.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.security import outbound
from engine.security.outbound import BlockedTarget, OutboundPolicy, check_address, make_client
from engine.security.outbound import resolve_and_check as resolve_checked
from tests import http_sink as sink_fixtures
from tests.fuzz.budget import examples
from tests.http_sink import HttpSink, Reply

http_sink = sink_fixtures.http_sink
DEFAULT = OutboundPolicy()
LOCALHOST_ONLY = OutboundPolicy(allowed_hosts=("localhost",))
FULL_WIDTH_LOCALHOST = "".join(chr(ord(c) + 0xFEE0) for c in "localhost")  # IDNA maps it

# Not globally reachable, from the IANA special-purpose registries (RFC 6890 and after),
# written out here rather than taken from ``ipaddress``, whose tables the guard relies on.
NON_PUBLIC_V4 = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/29", "192.0.0.170/31", "192.0.2.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
]  # fmt: skip
NON_PUBLIC_V6 = [
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32",
    "3fff::/20", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_client_cache() -> Iterator[None]:
    yield
    outbound.close_clients()


def addresses_in(
    networks: list[str],
) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Any address inside any of the networks."""

    def pick(network: str) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        net = ipaddress.ip_network(network)
        first = int(net.network_address)
        return st.integers(first, first + net.num_addresses - 1).map(ipaddress.ip_address)

    return st.sampled_from(networks).flatmap(pick)


def inet_aton_forms(ip: ipaddress.IPv4Address) -> list[str]:
    """Spellings of an IPv4 address that getaddrinfo reads numerically (no DNS lookup)."""
    value, octets = int(ip), ip.packed
    a, b, c, d = octets
    return [
        str(value),  # 2130706433
        hex(value),  # 0x7f000001
        "0" + oct(value)[2:],  # 017700000001
        ".".join(f"0{o:o}" for o in octets),  # 0177.00.00.01
        ".".join(hex(o) for o in octets),  # 0x7f.0x0.0x0.0x1
        f"{a}.{(b << 16) | (c << 8) | d}",  # 127.1
        f"{a}.{b}.{(c << 8) | d}",  # 127.0.1
        f"{hex(a)}.{(b << 16) | (c << 8) | d}",  # 0x7f.1
    ]


def ipv6_wrappings(ip: ipaddress.IPv4Address) -> list[str]:
    """IPv6 forms that carry an IPv4 address: mapped, translated, NAT64, 6to4."""
    hi, lo = int(ip) >> 16, int(ip) & 0xFFFF
    return [
        f"::ffff:{ip}",
        f"::ffff:{hi:x}:{lo:x}",
        f"0:0:0:0:0:ffff:{ip}",
        f"::ffff:0:{ip}",
        f"64:ff9b::{ip}",
        f"64:ff9b::{hi:x}:{lo:x}",
        f"2002:{hi:x}:{lo:x}::1",
    ]


@settings(max_examples=examples(300))
@given(addresses_in(NON_PUBLIC_V4 + NON_PUBLIC_V6))
def test_every_non_public_address_is_refused(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert check_address(ip) is not None
    with pytest.raises(BlockedTarget):
        resolve_checked(str(ip), 80, DEFAULT)


@settings(max_examples=examples(150))
@given(addresses_in([n for n in NON_PUBLIC_V4 if not n.startswith("224.")]))
def test_every_spelling_of_a_non_public_ipv4_address_is_refused(ip: ipaddress.IPv4Address) -> None:
    for form in inet_aton_forms(ip) + ipv6_wrappings(ip):
        with pytest.raises(BlockedTarget):
            resolve_checked(form, 80, DEFAULT)


@settings(max_examples=examples(150))
@given(addresses_in(NON_PUBLIC_V4 + NON_PUBLIC_V6))
def test_listing_localhost_allows_no_other_non_public_address(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if ip in ipaddress.ip_network("127.0.0.1/32") or ip == ipaddress.ip_address("::1"):
        return  # what localhost itself resolves to is allowed by listing it, by design
    with pytest.raises(BlockedTarget):
        resolve_checked(str(ip), 80, LOCALHOST_ONLY)


@pytest.mark.parametrize(
    "host",
    ["::ffff:127.0.0.1", "::ffff:7f00:1", "64:ff9b::7f00:1", "64:ff9b::a00:1", "2130706433",
     "0177.0.0.1", "0x7f.1", "127.1", "0.0.0.0", "0", "[::]", "::", "100.64.0.1",
     "100.127.255.254", "169.254.169.254", "[fd00::1]", "fd00::abcd", "fe80::1%lo",
     "localhost.", "LOCALHOST", FULL_WIDTH_LOCALHOST, "127.0.0.1.", " 127.0.0.1 ", "3fff::1"],
)  # fmt: skip
def test_named_ssrf_tricks_are_refused(host: str) -> None:
    with pytest.raises(BlockedTarget):
        resolve_checked(host, 80, DEFAULT)


LOOPBACK_URL_TRICKS = [
    "http://good.example@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}#@good.example/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://2130706433:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://0x7f.1:{port}/",
    "http://127.1:{port}/",
    "http://0.0.0.0:{port}/",
    "http://localhost.:{port}/",
    "http://" + FULL_WIDTH_LOCALHOST + ":{port}/",
    "http://127.0.0.1.:{port}/",
]


def refusal_for(url: str) -> type[Exception]:
    """BlockedTarget where httpx can parse the URL; httpx refuses the rest itself (octal
    with leading zeros, full-width IDN), before any connection."""
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return httpx.InvalidURL
    return BlockedTarget


@pytest.mark.parametrize("template", LOOPBACK_URL_TRICKS)
def test_url_tricks_aimed_at_loopback_never_connect(http_sink: HttpSink, template: str) -> None:
    url = template.format(port=http_sink.port)
    with make_client(DEFAULT, timeout=2) as client, pytest.raises(refusal_for(url)):
        client.get(url)
    assert http_sink.requests == []


def assert_redirect_refused(http_sink: HttpSink, target: str, status: int = 302) -> None:
    """The allowed first hop is answered; the redirect to ``target`` never connects."""
    seen = len(http_sink.requests)
    http_sink.reply(Reply(status=status, headers={"Location": target}))
    # A Location httpx cannot parse is its own error (RemoteProtocolError), not a hop.
    refusal = BlockedTarget if refusal_for(target) is BlockedTarget else httpx.RemoteProtocolError
    with make_client(LOCALHOST_ONLY, timeout=2) as client, pytest.raises(refusal):
        client.get(http_sink.url("/start", host="localhost"))
    assert [r.path for r in http_sink.requests[seen:]] == ["/start"]


REDIRECT_TARGETS = [
    "http://127.0.0.1:{port}/internal",
    "http://127.0.0.2:{port}/internal",
    "http://[::1]:{port}/internal",
    "http://[::ffff:127.0.0.1]:{port}/internal",
    "http://2130706433:{port}/internal",
    "http://0177.0.0.1:{port}/internal",
    "http://0x7f.1:{port}/internal",
    "http://127.1:{port}/internal",
    "http://0.0.0.0:{port}/internal",
    "http://localhost@127.0.0.1:{port}/internal",
    "//127.0.0.1:{port}/internal",
]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", REDIRECT_TARGETS)
def test_a_redirect_from_an_allowed_host_to_another_loopback_form_is_refused(
    http_sink: HttpSink, status: int, target: str
) -> None:
    assert_redirect_refused(http_sink, target.format(port=http_sink.port), status)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://x/"])
def test_a_redirect_to_another_scheme_is_not_followed(http_sink: HttpSink, target: str) -> None:
    http_sink.reply(Reply(status=302, headers={"Location": target}))
    with make_client(LOCALHOST_ONLY, timeout=2) as client, pytest.raises(httpx.UnsupportedProtocol):
        client.get(http_sink.url("/start", host="localhost"))
    assert [r.path for r in http_sink.requests] == ["/start"]


@settings(
    max_examples=examples(30),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ip=addresses_in(["127.0.0.0/8"]).filter(lambda ip: str(ip) != "127.0.0.1"),
    spelling=st.integers(0, 7),
)
def test_generated_loopback_redirects_are_refused(
    http_sink: HttpSink, ip: ipaddress.IPv4Address, spelling: int
) -> None:
    assert_redirect_refused(
        http_sink, f"http://{inet_aton_forms(ip)[spelling]}:{http_sink.port}/internal"
    )
