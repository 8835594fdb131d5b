"""The dashboard's two failure lists: column widths for a terminal width, and their rows."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from engine.services.dashboard import DashboardMetrics
from wfconsole.console.views.display import first_line, number, short_time
from wfconsole.console.widgets.record_table import RecordTable
from wfconsole.console.widgets.safe_text import safe_text

TIME, FAILS = 14, 5
CELL_PADDING = 2  # RecordTable pads each cell by one column on both sides
WIDE = 100  # from this width on, the top-failing list also shows the last failure's time
Rows = list[tuple[str, tuple[Text, ...]]]


@dataclass(frozen=True)
class ListWidths:
    """Column widths of both lists at one terminal width."""

    top_workflow: int
    top_last: int | None
    """None: too narrow for the column."""
    latest_workflow: int
    latest_error: int

    def top_columns(self) -> list[tuple[str, str, int]]:
        """(key, label, width) of the top-failing list."""
        columns = [("workflow", "workflow", self.top_workflow), ("fails", "fails", FAILS)]
        if self.top_last is not None:
            columns.append(("last", "last failure", self.top_last))
        return columns

    def latest_columns(self) -> list[tuple[str, str, int]]:
        """(key, label, width) of the latest-failures list."""
        return [
            ("time", "time (UTC)", TIME),
            ("workflow", "workflow", self.latest_workflow),
            ("error", "error", self.latest_error),
        ]


def list_widths(screen_width: int) -> ListWidths:
    """Split ``screen_width`` 2:3 between the lists (as the .tcss does) and fill each."""
    top = screen_width * 2 // 5
    latest = screen_width - top
    top_last = TIME if screen_width >= WIDE else None
    top_fixed = FAILS + (top_last or 0) + CELL_PADDING * (3 if top_last else 2) + 1
    latest_free = latest - TIME - CELL_PADDING * 3 - 1
    latest_workflow = max(8, min(24, latest_free // 2))
    return ListWidths(
        top_workflow=max(8, top - top_fixed),
        top_last=top_last,
        latest_workflow=latest_workflow,
        latest_error=max(8, latest_free - latest_workflow),
    )


def top_failing_rows(metrics: DashboardMetrics, widths: ListWidths) -> Rows:
    """One row per failing workflow, keyed by its name."""
    rows: Rows = []
    for row in metrics.top_failing:
        cells = [safe_text(row.workflow, max_length=widths.top_workflow), number(row.failures)]
        if widths.top_last is not None:
            cells.append(short_time(row.last_failed_at))
        rows.append((row.workflow, tuple(cells)))
    return rows


def latest_failure_rows(metrics: DashboardMetrics, widths: ListWidths) -> Rows:
    """One row per failed execution, keyed by its id."""
    return [
        (
            row.id,
            (
                short_time(row.created_at),
                safe_text(row.workflow, max_length=widths.latest_workflow),
                safe_text(first_line(row.error), style="red", max_length=widths.latest_error),
            ),
        )
        for row in metrics.latest_failures
    ]


def refill(table: RecordTable, columns: list[tuple[str, str, int]], rows: Rows) -> None:
    """Replace columns and rows, keeping the cursor on the same key when it is still there."""
    selected = table.cursor_key
    table.clear(columns=True)
    for key, label, width in columns:
        table.add_column(label, width=width, key=key)
    for key, cells in rows:
        table.add_row(*cells, key=key)
    keys = [key for key, _ in rows]
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)
