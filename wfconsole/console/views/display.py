"""How values look on screen: timestamps, durations, rates and statuses, all as ``Text``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich.text import Text

from wfconsole.console.widgets.safe_text import safe_text

STATUS_STYLES = {
    "SUCCESS": "green",
    "FAILED": "bold red",
    "RUNNING": "yellow",
    "PENDING": "cyan",
    "CANCELLED": "magenta",
    "SKIPPED": "dim",
}
# Short trigger names keep the workflow list inside 80 columns.
TRIGGER_LABELS = {"manual": "manual", "event": "event", "schedule": "cron", "webhook": "hook"}
MISSING = "-"


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the storage convention is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def short_time(value: datetime | None) -> Text:
    """``MM-DD HH:MM:SS`` in UTC: fits narrow columns, and the retention window is days."""
    if value is None:
        return Text(MISSING, style="dim")
    return Text(_utc(value).strftime("%m-%d %H:%M:%S"))


def full_time(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS.mmm UTC`` for detail views."""
    if value is None:
        return MISSING
    return _utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def duration(ms: float | None) -> str:
    """A human duration: ``850ms``, ``12.3s``, ``4m05s``, ``2h03m``."""
    if ms is None:
        return MISSING
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def percent(rate: float | None) -> Text:
    """A share as a right-aligned percentage, ``-`` when there is none."""
    if rate is None:
        return Text(MISSING, style="dim", justify="right")
    style = "green" if rate >= 0.95 else "yellow" if rate >= 0.8 else "red"
    return Text(f"{rate:.0%}", style=style, justify="right")


def number(value: int) -> Text:
    """A right-aligned count."""
    return Text(str(value), justify="right")


def status_text(status: str) -> Text:
    """An execution status in its colour."""
    return safe_text(status, style=STATUS_STYLES.get(status, ""))


def trigger_list(types: Iterable[str], max_length: int) -> Text:
    """Trigger types, shortened and comma-separated."""
    labels = ",".join(TRIGGER_LABELS.get(kind, kind) for kind in types)
    return safe_text(labels or MISSING, max_length=max_length)


def first_line(value: str | None) -> str:
    """The first non-blank line of a message (errors can be tracebacks)."""
    if not value:
        return ""
    for line in value.splitlines():
        if line.strip():
            return line.strip()
    return ""


def middle_ellipsis(value: str, width: int) -> str:
    """``value`` in at most ``width`` characters, its middle given up for ``…`` (a path
    keeps its root and its last parts, the ones that tell it apart)."""
    if len(value) <= width:
        return value
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2 + (width - 1) % 2
    return value[: width - 1 - tail] + "…" + value[len(value) - tail :]
