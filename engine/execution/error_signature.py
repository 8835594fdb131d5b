"""Error messages reduced to a signature, and whether an error looks transient.

``normalise_error`` turns "step 2 (webhook): HTTP 503 from https://x/hook?id=7 after 4
attempt(s)" and its siblings into one short signature ("HTTP 503 from https://x/hook?…
after # attempt(s)") so failures group by cause rather than by the ids and numbers each
run carries. Protocol status codes (HTTP 503, SMTP 421) are kept: they are the cause.

``classify_error`` follows how the executor and the actions decide retries: timeouts,
connection errors, HTTP 5xx/408/429 and crashes of an action are transient; 4xx, refused
targets, template and validation errors are permanent.

Both are pure and bounded: the input is cut to ``MAX_INPUT`` characters before any
pattern runs, and no pattern nests quantifiers, so a hostile megabyte costs microseconds.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

MAX_INPUT: Final = 2000
"""Characters of a message that are looked at (the rest cannot change the signature)."""
MAX_SIGNATURE: Final = 120
"""Longest signature; longer ones end with an ellipsis."""
ELLIPSIS: Final = "…"
MAX_CACHED: Final = 400
"""Longer messages are not remembered, so the cache stays within a few tens of MB."""

# "step 2 (webhook): " — the executor's prefix; the step and its type are columns of their own.
_STEP_PREFIX = re.compile(r"\Astep \d{1,9} \([^()\n]{0,64}\): ")
_STATUS_CODE = r"(?:HTTP|SMTP|status(?: code)?)[ :=/]{0,3}[1-5]\d\d\b"
_HEX = "[0-9a-fA-F]"
_IPV6_COMPRESSED = (
    rf"(?<![\w:])(?:{_HEX}{{1,4}}(?::{_HEX}{{1,4}}){{0,6}})?::"
    rf"(?:{_HEX}{{1,4}}(?::{_HEX}{{1,4}}){{0,6}})?(?![\w:])"
)
# Tried left to right at each position of a word: the first name that matches wins.
_PARTS = (
    r"(?P<time>\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,9})?)?"
    r"(?:Z|[+-]\d\d(?::?\d\d)?)?)?|\b\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d(?::?\d\d)?)?)",
    rf"(?P<uuid>\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b)",
    r"(?P<ip>\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"
    r"|\[[0-9a-fA-F:.]{2,45}\](?::\d{1,5})?"
    rf"|\b(?:{_HEX}{{1,4}}:){{7}}{_HEX}{{1,4}}\b{{ipv6}})",
    rf"(?P<status>\b{_STATUS_CODE})",
    rf"(?P<hex>\b0x{_HEX}{{1,64}}\b|\b(?=[a-fA-F]{{0,63}}\d){_HEX}{{8,64}}\b)",
    r"(?P<id>\b(?=[A-Za-z_-]{0,63}\d)(?=[0-9_-]{0,63}[A-Za-z])[A-Za-z0-9_-]{8,64}\b)",
    r"(?P<number>\d+(?:\.\d+)?)",
)
_URL = (
    r"(?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]{0,15}://[^\s?#'\"<>]{0,500}"
    r"(?P<query>\?[^\s#'\"<>]{0,1000})?)"
)
_EMAIL = r"(?P<email>\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8})"


def _alternation(*parts: str, ipv6: bool) -> re.Pattern[str]:
    # Compressed IPv6 ("fe80::1") is the costliest part; it only runs on words with "::".
    joined = "|".join(parts).replace("{ipv6}", "|" + _IPV6_COMPRESSED if ipv6 else "")
    return re.compile(joined)


_IN_URL = _alternation(*_PARTS, ipv6=False)  # a URL's query is dropped whole
_TOKENS = _alternation(_URL, _EMAIL, *_PARTS, ipv6=False)
_TOKENS_IPV6 = _alternation(_URL, _EMAIL, *_PARTS, ipv6=True)
# Quoted values and status codes first (they span spaces); status digits are parked in
# the Private Use Area meanwhile so the word pass cannot see them.
_SPANS = re.compile(
    r"(?P<quoted>(?<!\w)'[^'\n]{0,200}'(?!\w)|\"[^\"\n]{0,200}\")"
    rf"|(?P<status>\b{_STATUS_CODE})"
)
_MAY_SPAN = re.compile(r"['\"]|HTTP|SMTP|status")
_PARK = str.maketrans("0123456789", "".join(chr(0xE000 + d) for d in range(10)))
_UNPARK = {0xE000 + d: str(d) for d in range(10)}
# Only words holding a digit, '@' or ':' can change; the others are never looked at.
_CHANGING_WORD = re.compile(r"(?<!\S)[^\s\d@:]{0,2000}[\d@:]\S{0,2000}")
_PLACEHOLDERS = {
    "email": "<email>",
    "time": "<time>",
    "uuid": "<uuid>",
    "ip": "<ip>",
    "hex": "<hex>",
    "id": "<id>",
    "number": "#",
}


def _replace_span(match: re.Match[str]) -> str:
    text = match.group()
    if match.lastgroup == "quoted":
        return text[0] + ELLIPSIS + text[0]
    return text.translate(_PARK)


def _replace_word(match: re.Match[str]) -> str:
    word = match.group()
    tokens = _TOKENS_IPV6 if "::" in word else _TOKENS
    return tokens.sub(_replace_token, word)


def _replace_token(match: re.Match[str]) -> str:
    kind = match.lastgroup or ""
    text = match.group()
    if kind == "status":
        return text
    if kind in ("url", "query"):  # lastgroup names the group that closed last
        query = match.group("query")
        base = text[: len(text) - len(query)] if query else text
        scheme, sep, rest = base.partition("://")
        return scheme + sep + _IN_URL.sub(_replace_token, rest) + ("?…" if query else "")
    return _PLACEHOLDERS[kind]


def strip_step_prefix(message: str) -> str:
    """``message`` without the executor's leading ``step N (type): ``."""
    return _STEP_PREFIX.sub("", message, count=1)


def normalise_error(message: str | None) -> str:
    """A short signature of ``message``: ids, numbers, times, quoted values and queries gone.

    Same cause, same signature: "HTTP 503 from https://a/x?id=1" and "…?id=2" agree, and
    so do two UUIDs, two timestamps or two IP addresses in otherwise equal messages.
    """
    if not message:
        return ""
    if len(message) > MAX_CACHED:
        return _signature(message[:MAX_INPUT])
    return _normalise(message)


@lru_cache(maxsize=65536)
def _normalise(message: str) -> str:
    """``_signature``, remembered: a window's failures repeat the same few messages."""
    return _signature(message)


def _signature(message: str) -> str:
    text = strip_step_prefix(message)
    if _MAY_SPAN.search(text):
        text = _SPANS.sub(_replace_span, text)
    text = _CHANGING_WORD.sub(_replace_word, text)
    text = " ".join(text.split()).translate(_UNPARK)
    if len(text) > MAX_SIGNATURE:
        text = text[: MAX_SIGNATURE - 1].rstrip() + ELLIPSIS
    return text


# (pattern, transient) — the first pattern found in the message decides.
_CLASSES: Final[tuple[tuple[re.Pattern[str], bool], ...]] = tuple(
    (re.compile(pattern, re.IGNORECASE), transient)
    for pattern, transient in (
        (r"\bHTTP[ :=/]{0,3}(?:408|429)\b", True),
        (r"\bHTTP[ :=/]{0,3}5\d\d\b", True),
        (r"\bHTTP[ :=/]{0,3}4\d\d\b", False),
        (r"\bSMTP[ :=/]{0,3}4\d\d\b", True),
        (r"\bSMTP[ :=/]{0,3}5\d\d\b", False),
        (r"too many requests|rate.?limit|throttl", True),
        (r"timed out|timeout|deadline", True),
        (r"worker lost|connection|temporar|unavailable|try again|reset by peer|undecodable", True),
        (r"refused outbound call|invalid|not a plain dotted path|missing value for", False),
        (r"template|cannot run in this version|not JSON|redirects|validation", False),
        (r"\A\w*(?:Error|Exception):", True),
    )
)


def classify_error(message: str | None) -> bool:
    """True when the error looks transient (a retry may succeed), False when permanent.

    Unknown messages are permanent: retrying them is the operator's call, not a default.
    """
    if not message:
        return False
    text = strip_step_prefix(message[:MAX_INPUT])
    for pattern, transient in _CLASSES:
        if pattern.search(text):
            return transient
    return False
