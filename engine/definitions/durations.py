"""Durations as operators type them: ``30s``, ``10m``, ``1h``, ``2d``.

One parser for every command and definition field that takes a duration (pause ``--for``,
``spread:DURATION``, limit and hold expiries), so they all accept and refuse the same text.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"([0-9]{1,9})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=366)


def parse_duration(text: str) -> timedelta:
    """``30s`` / ``10m`` / ``1h`` / ``2d`` as a timedelta; ValueError says what is wrong.

    The number is a whole number ≥ 1 in ASCII digits, no spaces; at most 366 days.
    """
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"invalid duration {str(text)[:40]!r}: expected a whole number and a unit"
            " s, m, h or d (e.g. 30s, 10m, 1h, 2d)"
        )
    value = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if value < 1:
        raise ValueError(f"invalid duration {text!r}: must be at least 1s")
    if value > MAX_DURATION.total_seconds():
        raise ValueError(f"invalid duration {text!r}: at most 366d")
    return timedelta(seconds=value)


def format_duration(delta: timedelta) -> str:
    """The shortest exact ``parse_duration`` text for ``delta`` (whole seconds)."""
    seconds = int(delta.total_seconds())
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_RATE = re.compile(r"([0-9]{1,9})/([sm])")


def parse_rate(text: str) -> tuple[int, int]:
    """``N/s`` or ``N/m`` (N ≥ 1) as (N, window seconds); ValueError says what is wrong."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError(
            f"invalid rate {str(text)[:40]!r}: expected N/s or N/m with N ≥ 1 (e.g. 10/s, 100/m)"
        )
    return int(match.group(1)), 1 if match.group(2) == "s" else 60
