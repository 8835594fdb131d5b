"""Untrusted strings as inert Rich ``Text``: no markup, no escape sequences."""

from __future__ import annotations

import re

from rich.console import JustifyMethod
from rich.style import Style
from rich.text import Text

# Bidi embeddings/overrides/isolates can reorder what the operator reads ("Trojan source").
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_KEEP_NEWLINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\t":
        return "    "
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control picture": ESC shows as ␛
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def is_clean(text: str) -> bool:
    """True when ``text`` has nothing that ``clean`` would replace (on one line)."""
    return _UNSAFE.search(text) is None


def clean(value: object, *, multiline: bool = False) -> str:
    """``value`` as a string with control, C1 and bidi characters made visible."""
    text = "" if value is None else str(value)
    if multiline:
        text = text.replace("\r\n", "\n")
    pattern = _UNSAFE_KEEP_NEWLINES if multiline else _UNSAFE
    return pattern.sub(_visible, text)


def safe_text(
    value: object,
    *,
    style: str | Style = "",
    multiline: bool = False,
    max_length: int | None = None,
    justify: JustifyMethod | None = None,
) -> Text:
    """An inert ``Text`` for untrusted data; ``max_length`` truncates with an ellipsis."""
    text = Text(
        clean(value, multiline=multiline), style=style, justify=justify, no_wrap=not multiline
    )
    if max_length is not None:
        text.truncate(max(1, max_length), overflow="ellipsis")
    return text
