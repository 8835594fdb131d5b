"""Plain-text output shared by commands: aligned tables and timestamps."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO


def timestamp(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z, or None."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def printable(value: object) -> str:
    """A value on one line (JSON unless it is text); no control character or escape
    sequence reaches the terminal."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return _clean(text)


def _clean(cell: str) -> str:
    # Untrusted text reaches the terminal: no control characters or escape sequences.
    return "".join(ch if ch.isprintable() else "?" for ch in cell)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, out: TextIO | None = None
) -> None:
    """Print left-aligned columns separated by two spaces."""
    out = out or sys.stdout
    cleaned = [[_clean(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cleaned:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [list(headers), *cleaned]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)
    if not rows:
        print("(none)", file=out)
