"""The ``X-Wf-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256("<t>.<body>")>``."""

from __future__ import annotations

import hashlib
import hmac
import re

_HEX = re.compile(r"[0-9a-f]{64}")
MAX_HEADER = 1024


class SignatureError(Exception):
    """Why a request's signature does not hold (missing, malformed, old, wrong)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender puts on ``body`` at ``timestamp`` (tests and clients)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse(header: str | None) -> tuple[int, list[str]]:
    """The timestamp and the v1 signatures of a header; raises ``SignatureError``."""
    if not header:
        raise SignatureError("missing X-Wf-Signature header")
    if len(header) > MAX_HEADER:
        raise SignatureError("X-Wf-Signature header too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed X-Wf-Signature header")
        if key == "t":
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise SignatureError("malformed timestamp in X-Wf-Signature")
            timestamp = int(value)
        elif key == "v1" and _HEX.fullmatch(value):
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("X-Wf-Signature needs t= and v1=")
    return timestamp, signatures


def verify(secret: str, header: str | None, body: bytes, *, now: float, tolerance: int) -> str:
    """Check the header against ``body``; returns the matching signature: the replay key,
    which is the HMAC itself (as the secret computes it), so one signature is one key
    whatever path it is sent to and however the header is spelled."""
    timestamp, signatures = parse(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature timestamp is outside the tolerance")
    expected = _digest(secret, timestamp, body)
    matched = [s for s in signatures if hmac.compare_digest(expected, s)]
    if not matched:
        raise SignatureError("signature does not match")
    return matched[0]
