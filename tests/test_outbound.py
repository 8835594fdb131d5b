"""Outbound-safety guard: address checks, resolution checks, and the guarded client."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.security import outbound
from engine.security.outbound import (
    BlockedTarget,
    GuardedTransport,
    OutboundPolicy,
    check_address,
    get_client,
    make_client,
    resolve_and_check,
)
from tests import http_sink as sink_fixtures
from tests.http_sink import HttpSink, Reply

DEFAULT = OutboundPolicy()

http_sink = sink_fixtures.http_sink


@pytest.fixture(autouse=True)
def _fresh_client_cache() -> Iterator[None]:
    yield
    outbound.close_clients()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "address"),
        ("255.255.255.255", "address"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("fd12:3456::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback address embedded in IPv4-mapped"),
        ("::ffff:169.254.169.254", "link-local address embedded in IPv4-mapped"),
        ("64:ff9b::7f00:1", "loopback address embedded in NAT64"),
        ("64:ff9b::a00:1", "private address embedded in NAT64"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2002:7f00:1::", "loopback address embedded in 6to4"),
        ("2002:c0a8:101::1", "private address embedded in 6to4"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("::7f00:1", "reserved"),
    ],
)
def test_check_address_refuses_non_public_addresses(address: str, reason: str) -> None:
    found = check_address(ipaddress.ip_address(address))
    assert found is not None
    assert reason in found


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_check_address_accepts_public_addresses(address: str) -> None:
    assert check_address(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST.",
        "127.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "127.1",
        "0.0.0.0",
        "[::1]",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
    ],
)
def test_resolve_and_check_refuses_hosts_resolving_to_private_addresses(host: str) -> None:
    with pytest.raises(BlockedTarget, match=r"security\.allowed_hosts"):
        resolve_and_check(host, 80, DEFAULT)


def test_blocked_target_message_names_address_reason_and_remedy() -> None:
    with pytest.raises(BlockedTarget) as caught:
        resolve_and_check("127.0.0.1", 80, DEFAULT)
    assert str(caught.value) == (
        "refused outbound call to 127.0.0.1 (loopback address); list the host in "
        "security.allowed_hosts or set security.allow_private_targets = true"
    )


def test_resolve_and_check_returns_public_literal() -> None:
    assert resolve_and_check("8.8.8.8", 443, DEFAULT) == ["8.8.8.8"]


def test_listed_host_name_is_allowed_case_insensitively() -> None:
    policy = OutboundPolicy(allowed_hosts=("LocalHost",))
    assert "127.0.0.1" in resolve_and_check("localhost", 80, policy)


def test_listed_ip_allows_names_resolving_to_it() -> None:
    policy = OutboundPolicy(allowed_hosts=("127.0.0.1",))
    assert resolve_and_check("localhost", 80, policy) == ["127.0.0.1"]


def test_allow_private_targets_allows_everything() -> None:
    policy = OutboundPolicy(allow_private_targets=True)
    assert resolve_and_check("169.254.169.254", 80, policy) == ["169.254.169.254"]


def test_client_refuses_loopback_by_default(http_sink: HttpSink) -> None:
    with make_client(DEFAULT, timeout=2) as client, pytest.raises(BlockedTarget):
        client.get(http_sink.url())
    assert http_sink.requests == []


def test_client_refuses_decimal_loopback_host(http_sink: HttpSink) -> None:
    with make_client(DEFAULT, timeout=2) as client, pytest.raises(BlockedTarget):
        client.get(http_sink.url(host="2130706433"))
    assert http_sink.requests == []


def test_client_reaches_host_listed_in_allowed_hosts(http_sink: HttpSink) -> None:
    policy = OutboundPolicy(allowed_hosts=("127.0.0.1",))
    with make_client(policy, timeout=2) as client:
        assert client.get(http_sink.url("/hello")).status_code == 200
    assert [r.path for r in http_sink.requests] == ["/hello"]


def test_client_reaches_private_target_when_allowed(http_sink: HttpSink) -> None:
    with make_client(OutboundPolicy(allow_private_targets=True), timeout=2) as client:
        assert client.get(http_sink.url()).status_code == 200


def test_redirect_to_unlisted_private_host_is_refused(http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=302, headers={"Location": http_sink.url("/internal")}))
    policy = OutboundPolicy(allowed_hosts=("localhost",))
    with (
        make_client(policy, timeout=2) as client,
        pytest.raises(BlockedTarget, match=r"127\.0\.0\.1"),
    ):
        client.get(http_sink.url("/start", host="localhost"))
    assert [r.path for r in http_sink.requests] == ["/start"]


def test_redirect_within_allowed_host_is_followed(http_sink: HttpSink) -> None:
    target = http_sink.url("/next", host="localhost")
    http_sink.reply(Reply(status=307, headers={"Location": target}))
    policy = OutboundPolicy(allowed_hosts=("localhost",))
    with make_client(policy, timeout=2) as client:
        assert client.get(http_sink.url("/start", host="localhost")).status_code == 200
    assert [r.path for r in http_sink.requests] == ["/start", "/next"]


def test_connection_goes_to_the_checked_address_without_a_second_lookup(
    http_sink: HttpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding_getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        if host == "rebind.test":
            lookups.append(host)
            # First answer is the sink; any later answer points somewhere unreachable.
            host = "127.0.0.1" if len(lookups) == 1 else "192.0.2.1"
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    policy = OutboundPolicy(allowed_hosts=("rebind.test",))
    with make_client(policy, timeout=2) as client:
        response = client.get(http_sink.url("/", host="rebind.test"))
    assert response.status_code == 200
    assert lookups == ["rebind.test"]
    assert http_sink.requests[0].headers["host"] == f"rebind.test:{http_sink.port}"


def test_unresolvable_host_is_a_connect_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with make_client(DEFAULT, timeout=2) as client, pytest.raises(httpx.ConnectError):
        client.get("http://no-such-host.invalid/")


def test_get_client_reuses_one_client_per_policy_and_timeout() -> None:
    first = get_client(DEFAULT, timeout=5)
    assert get_client(OutboundPolicy(), timeout=5.0) is first
    assert get_client(DEFAULT, timeout=6) is not first
    assert get_client(OutboundPolicy(allow_private_targets=True), timeout=5) is not first


def self_signed_certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """Write a self-signed certificate for DNS name `name` and its key; return both paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def tls_client(cert_path: Path, policy: OutboundPolicy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(cert_path))
    return httpx.Client(transport=GuardedTransport(policy, ssl_context=trust), timeout=2)


def tls_sink(cert_path: Path, key_path: Path) -> HttpSink:
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)
    return HttpSink(tls=server_tls)


def test_tls_checks_the_certificate_against_the_url_host(tmp_path: Path) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path, "localhost")
    policy = OutboundPolicy(allowed_hosts=("localhost",))
    with tls_sink(cert_path, key_path) as sink, tls_client(cert_path, policy) as client:
        assert client.get(sink.url("/secure", host="localhost")).status_code == 200


def test_tls_refuses_a_certificate_for_another_host(tmp_path: Path) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path, "other.test")
    policy = OutboundPolicy(allowed_hosts=("localhost",))
    with (
        tls_sink(cert_path, key_path) as sink,
        tls_client(cert_path, policy) as client,
        pytest.raises(httpx.ConnectError, match="certificate"),
    ):
        client.get(sink.url("/secure", host="localhost"))
