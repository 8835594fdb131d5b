"""Outbound-safety guard: refuse calls to private, loopback and link-local targets.

Every outbound HTTP call made by an action (webhooks, Slack, Teams) goes through a client
from `get_client` / `make_client`. The check runs inside the connection layer, at the
moment a TCP connection is opened: the host is resolved once, every resolved address is
checked, and the socket is opened to one of exactly those addresses. TLS still uses the
URL's host name for SNI and certificate checks, and the `Host` header is untouched.
Because the check sits where connections are made, every redirect hop to a new origin is
checked too, and a DNS answer that changes between "check" and "connect" (DNS rebinding)
cannot slip through: there is no second lookup.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

from engine.security.outbound_transport import PoolTransport
from engine.security.secret_fields import is_secret_header

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")
# RFC 9637 (2024): newer than the tables of the Python versions we support.
_DOCUMENTATION_V6 = ipaddress.IPv6Network("3fff::/20")


@dataclass(frozen=True)
class OutboundPolicy:
    """Which otherwise-refused targets outbound calls may reach (`security.*` config)."""

    allow_private_targets: bool = False
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Config hands over a list; a tuple keeps the policy hashable (client cache key).
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))


class BlockedTarget(Exception):
    """An outbound call was refused because its target resolves to a non-public address."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        shown = host if host == address else f"{host} ({address})"
        super().__init__(
            f"refused outbound call to {shown} ({reason}); list the host in "
            "security.allowed_hosts or set security.allow_private_targets = true"
        )


def check_address(ip: IPAddress) -> str | None:
    """Return why `ip` is not a safe outbound target, or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            label, v4 = embedded
            reason = check_address(v4)
            return f"{reason} embedded in {label} address" if reason else None
        if ip.teredo is not None:
            return "Teredo tunnel address"
        if ip in _NAT64_LOCAL:
            return "local-use NAT64 address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT address"
    if ip.is_multicast:
        return "multicast address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _SITE_LOCAL:
            return "site-local address"
        if ip in _UNIQUE_LOCAL:
            return "unique-local address"
        if ip in _DOCUMENTATION_V6:
            return "documentation address"
    if ip.is_private:
        return "private address"
    if ip.is_reserved:
        return "reserved address"
    if not ip.is_global:
        return "non-public address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 translation/tunnel form really reaches, if any."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    return None


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_listed(host: str, ip: IPAddress | None, policy: OutboundPolicy) -> bool:
    """True when the host name, or the resolved address, appears in allowed_hosts."""
    for entry in policy.allowed_hosts:
        listed = _normalise_host(entry)
        if listed == host:
            return True
        listed_ip = _parse_ip(listed)
        if ip is not None and listed_ip is not None and listed_ip == ip:
            return True
    return False


def resolve_and_check(host: str, port: int, policy: OutboundPolicy) -> list[str]:
    """Resolve `host` and return its addresses; raise BlockedTarget if any is refused.

    Literal and odd numeric forms (`2130706433`, `0177.0.0.1`) are resolved by
    getaddrinfo like any name, so the check always applies to the real address.
    Raises OSError (socket.gaierror) when the name does not resolve.
    """
    name = _normalise_host(host)
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if policy.allow_private_targets or _is_listed(name, None, policy):
        return addresses
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        reason = check_address(ip)
        if reason is not None and not _is_listed(name, ip, policy):
            raise BlockedTarget(name, address, reason)
    return addresses


class _GuardedNetworkBackend(httpcore.NetworkBackend):
    """Opens TCP connections only to addresses that passed `resolve_and_check`."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve_and_check(host, port, self._policy)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        last_error: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"no address for {host}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed for outbound calls")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def is_credential_header(name: str) -> bool:
    """Whether a header must not follow a redirect to another origin: every name the
    encryption rule treats as a secret, except the Idempotency-Key wfconsole adds."""
    return name.lower() != "idempotency-key" and is_secret_header(name)


class GuardedTransport(PoolTransport):
    """httpx transport whose every new connection (each redirect hop too) is checked.

    Redirects are followed here, up to ``max_redirects`` (0: not at all): on a hop to
    another origin every credential header is dropped, and https → http is refused.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        max_redirects: int = 0,
        limits: httpx.Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(
            _GuardedNetworkBackend(policy),
            is_sensitive=is_credential_header,
            max_redirects=max_redirects,
            limits=limits,
            ssl_context=ssl_context,
        )


class GuardInactive(BlockedTarget):
    """Connections do not go through the guard's network backend: every call fails closed."""

    def __init__(self, detail: str) -> None:
        Exception.__init__(self, "outbound calls are disabled: the address guard is not "
                           f"working in this installation ({detail})")  # fmt: skip
        self.host = self.address = ""
        self.reason = "guard inactive"


class _Probed(Exception):
    """Raised by the probe backend: proof that a connection attempt went through it."""


class _ProbeBackend(httpcore.NetworkBackend):
    def connect_tcp(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
        raise _Probed

    def connect_unix_socket(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
        raise _Probed


_guard_verified = threading.Event()


def verify_guard() -> None:
    """Check once per process that httpx opens connections only through our backend.

    The guard lives in the network backend. Should a release of httpx or httpcore ever
    open a connection some other way, this raises GuardInactive (a BlockedTarget), so
    outbound calls fail closed instead of going out unchecked.
    """
    if _guard_verified.is_set():
        return
    transport = PoolTransport(_ProbeBackend(), is_sensitive=is_secret_header)
    try:
        with httpx.Client(transport=transport, timeout=2, trust_env=False) as client:
            client.get("http://127.0.0.1:9/")
    except _Probed:
        _guard_verified.set()
        return
    except httpx.HTTPError as exc:
        raise GuardInactive(f"a connection bypassed it: {type(exc).__name__}") from None
    raise GuardInactive("a request was answered without it")


def make_client(
    policy: OutboundPolicy,
    *,
    timeout: float,
    follow_redirects: bool = True,
    max_redirects: int = 5,
) -> httpx.Client:
    """Build a new httpx client whose connections all pass the outbound-safety check."""
    verify_guard()
    return httpx.Client(
        transport=GuardedTransport(policy, max_redirects=max_redirects if follow_redirects else 0),
        timeout=httpx.Timeout(timeout),
        # The transport follows redirects, with the credential and downgrade rules.
        follow_redirects=False,
        trust_env=False,
    )


_ClientKey = tuple[OutboundPolicy, float, bool, int]
_clients: dict[_ClientKey, httpx.Client] = {}
_clients_lock = threading.Lock()


def get_client(
    policy: OutboundPolicy,
    *,
    timeout: float,
    follow_redirects: bool = True,
    max_redirects: int = 5,
) -> httpx.Client:
    """Return a shared guarded client, so connection pools are reused across executions."""
    key = (policy, float(timeout), follow_redirects, max_redirects)
    client = _clients.get(key)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = make_client(
                policy,
                timeout=timeout,
                follow_redirects=follow_redirects,
                max_redirects=max_redirects,
            )
            _clients[key] = client
        return client


def close_clients() -> None:
    """Close every shared client (worker shutdown, tests)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
