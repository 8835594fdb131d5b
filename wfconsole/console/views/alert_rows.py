"""The alert history's rows: column widths, an incident's cells and how it was sent."""

from __future__ import annotations

from rich.text import Text

from engine.alerts.incidents import AlertRow
from wfconsole.console.views.display import full_time, short_time
from wfconsole.console.widgets.safe_text import safe_text

SEVERITY_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}
# opened, state, severity, rule: fixed; subject and message share what is left.
FIXED_WIDTHS = (14, 8, 8, 15)
CELL_PADDING = 2


def column_widths(screen_width: int) -> tuple[int, ...]:
    """Widths of the six columns for a terminal ``screen_width`` wide."""
    spare = screen_width - sum(FIXED_WIDTHS) - CELL_PADDING * 6 - 1  # 1: the scrollbar
    subject = max(8, min(24, spare // 3))
    return (*FIXED_WIDTHS, subject, max(8, spare - subject))


def alert_cells(row: AlertRow, widths: tuple[int, ...]) -> list[Text]:
    """One incident as table cells; an open one is bold with its state in red."""
    weight = "bold" if row.is_open else ""
    state = Text("OPEN", style="bold red") if row.is_open else Text("resolved", style="dim")
    return [
        short_time(row.opened_at),
        state,
        safe_text(row.severity, style=SEVERITY_STYLES.get(row.severity, "")),
        safe_text(row.rule, style=weight, max_length=widths[3]),
        safe_text(row.subject, style=weight, max_length=widths[4]),
        safe_text(row.message, max_length=widths[5]),
    ]


def delivery_line(row: AlertRow) -> Text:
    """How the last notification went, per channel."""
    if not row.notify_count:
        return Text("not sent", style="dim")
    text = Text(f"sent {row.notify_count} time(s), last {full_time(row.notified_at)}")
    for delivery in row.deliveries:
        ok = bool(delivery.get("ok"))
        text.append(" · ")
        text.append_text(safe_text(delivery.get("channel"), style="green" if ok else "red"))
        text.append_text(safe_text(f" {'ok' if ok else delivery.get('error')}"))
    return text
