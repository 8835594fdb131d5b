"""What destination an outbound call goes to: ``host[:port]``, and the operators' spelling.

A call and a hold name a destination the same way (``destination``), so a hold stops
every spelling of its host and port:

- the host in lower case, without a trailing dot; an IP address in its standard form
  (``ipaddress.ip_address(host).compressed``: ``127.0.0.1``, ``[::1]``, IPv6 in
  brackets), without an IPv6 zone (``%eth0`` names an interface of this machine);
- the port unless it is 80 or 443, whatever the scheme: port 80 or 443 of a host is the
  host (``hooks.example.com``); any other port is kept (``127.0.0.1:8125``,
  ``smtp.example.com:587``);
- at most ``MAX_LENGTH`` (200) characters, so it fits the ``destination`` columns and the
  audit log's ``target_id``: a longer name (a templated webhook host from trigger data)
  becomes its first 180 characters, ``~`` and 12 hex digits of the SHA-256 of the whole
  name — what the board shows, and what ``parse_destination`` accepts to hold it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from urllib.parse import urlsplit

WEB_PORTS = frozenset({80, 443})
"""Ports a destination leaves out, whatever the scheme."""
MAX_LENGTH = 200
"""The longest destination (``audit_log.target_id`` is 200 characters)."""
_PREFIX = 180
_DIGEST = 12
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_SHORTENED = re.compile(rf"^[a-z0-9._-]{{{_PREFIX}}}~[0-9a-f]{{{_DIGEST}}}$")


class InvalidDestination(ValueError):
    """Text that is not ``HOST[:PORT]``."""


def destination(host: str, port: int | None) -> str:
    """The canonical ``host[:port]`` of a call to ``host`` on ``port`` (see the module)."""
    host = _canonical_host(host)
    name = host if port is None or port in WEB_PORTS else f"{host}:{port}"
    return _bounded(name)


def _canonical_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:  # IPv6: its zone is an interface of this machine, not a destination
        host = host.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"[{host}]" if ":" in host else host
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def _bounded(name: str) -> str:
    """``name``, or when longer than ``MAX_LENGTH`` its first 180 characters, ``~`` and
    12 hex digits of its SHA-256."""
    if len(name) <= MAX_LENGTH:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "backslashreplace")).hexdigest()
    return f"{name[:_PREFIX]}~{digest[:_DIGEST]}"


def destination_of_url(url: str) -> str:
    """The destination of an ``http(s)`` URL (``""`` when it has no host)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    if not parts.hostname:
        return ""
    return destination(parts.hostname, port)


def parse_destination(text: str) -> str:
    """An operator's ``HOST[:PORT]`` in the canonical form; ``InvalidDestination`` else.

    Accepts a DNS name, an IPv4 address or a bracketed IPv6 address (no ``%`` zone), and a
    port 1 to 65535 (80 and 443 are left out, as a call's destination leaves them out);
    at most 200 characters, or a longer host as the board shows it (its first 180
    characters, ``~`` and 12 hex digits). No scheme, path, user, spaces or control
    characters.
    """
    raw = text.strip() if isinstance(text, str) else ""
    if not raw or not raw.isascii() or not raw.isprintable():
        raise _invalid(text)
    if len(raw) > MAX_LENGTH + len(":65535."):
        raise _too_long(text)
    if _SHORTENED.match(raw.lower()):
        return raw.lower()
    host, port = raw, None
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise _invalid(text)
        host, rest = raw[1:end], raw[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise _invalid(text)
            port = _port(rest[1:], text)
        if "%" in host:
            raise InvalidDestination(
                f"invalid destination {_shown(text)}: an IPv6 zone (%...) names an interface"
                " of this machine, not a destination; expected [IPV6] or [IPV6]:PORT"
            )
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _invalid(text) from None
    else:
        if raw.count(":") == 1:
            host, port_text = raw.split(":")
            port = _port(port_text, text)
        host = host.lower().rstrip(".")
        if not host or ":" in host:
            raise _invalid(text)
        if not all(_LABEL.match(label) for label in host.split(".")):
            raise _invalid(text)
    name = _canonical_host(host)
    name = name if port is None or port in WEB_PORTS else f"{name}:{port}"
    if len(name) > MAX_LENGTH:
        raise _too_long(text)
    return name


def _port(text: str, original: str) -> int:
    if not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise _invalid(original)
    return int(text)


def _shown(text: object) -> str:
    shown = str(text)
    return repr(shown if len(shown) <= 60 else shown[:60] + "...")


def _invalid(text: object) -> InvalidDestination:
    return InvalidDestination(
        f"invalid destination {_shown(text)}: expected HOST or HOST:PORT"
        " (a host name or IP address, a port 1-65535; no scheme or path)"
    )


def _too_long(text: object) -> InvalidDestination:
    return InvalidDestination(
        f"invalid destination {_shown(text)}: longer than {MAX_LENGTH} characters"
        f" (a longer host is shown on the board as its first {_PREFIX} characters, '~'"
        f" and {_DIGEST} hex digits: hold it by that name)"
    )
