"""Who sent a request: the connecting address, or behind a trusted proxy the client it names.

``http.trusted_proxies`` lists the addresses and networks of the reverse proxies and load
balancers in front of ``serve``. Only a request whose *connecting* address is one of them
has its ``X-Forwarded-For`` read, and then from the right: each proxy appends the address
it received the request from, so the right-most entry that is not itself a trusted proxy is
the client; whatever lies left of it was written by that client and is not believed. With
no trusted proxies (the default) the header is ignored and the connecting address is the
client, whatever a request claims.

``ForwardedClient`` rewrites the ASGI scope's ``client`` in place, before anything reads
it, so the rate limit (engine/http/app.py) and uvicorn's access log see the same client.
uvicorn's own header handling must be off (``proxy_headers=False``, as ``wfconsole serve``
runs it): by default it believes ``X-Forwarded-For`` from any loopback peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_HOPS = 32
"""``X-Forwarded-For`` entries read at most, from the right (a longer chain of trusted
proxies ends at the last one read)."""


def parse_address(text: str) -> Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:80``,
    ``2001:db8::1``), IPv4-mapped IPv6 as IPv4; None when it is not one."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    if not text or len(text) > 64:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The ``http.trusted_proxies`` networks, and the client a request comes from."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in entries]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address) -> bool:
        """True when ``address`` is one of the trusted proxies."""
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """The client of a request from ``peer`` with these ``X-Forwarded-For`` values.

        Not a trusted peer, or no header: the peer. Otherwise the right-most entry that is
        not a trusted proxy; an entry that is not an address stops the walk at the hop
        that passed it on (a trusted proxy would have written an address); when every
        entry is a trusted proxy, the left-most of them.
        """
        current = parse_address(peer)
        if current is None or not self.trusts(current):
            return peer
        entries = ",".join(forwarded_for).split(",")
        for entry in reversed(entries[-MAX_HOPS:]):
            address = parse_address(entry)
            if address is None:
                break
            current = address
            if not self.trusts(address):
                break
        return str(current)


class ForwardedClient:
    """ASGI middleware: ``scope["client"]`` becomes the client ``TrustedProxies`` names."""

    def __init__(self, app: Any, proxies: TrustedProxies) -> None:
        self.app, self.proxies = app, proxies

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        peer = scope.get("client")
        if self.proxies and scope["type"] in ("http", "websocket") and peer:
            values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
            if values:
                client = self.proxies.client(str(peer[0]), values)
                if client != peer[0]:
                    scope["client"] = (client, 0)  # in place: the access log reads it too
        await self.app(scope, receive, send)
