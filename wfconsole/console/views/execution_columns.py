"""The execution list's columns: their widths at a screen width and each row's cells."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from rich.text import Text

from wfconsole.console.views.display import duration, first_line, number, short_time, status_text
from wfconsole.console.views.execution_filter import ExecutionFilter
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.executions import ExecutionRow

MARK = "●"
FIXED_COLUMNS = (
    ("time", "time (UTC)", 14),
    ("status", "status", 9),
    ("trigger", "trigger", 8),
    ("duration", "duration", 8),
    ("retries", "try", 3),
)
MARK_COLUMN = ("mark", "", 1)
WORKFLOW_MIN, WORKFLOW_MAX, ERROR_MIN = 12, 32, 8
# Cell padding of every column (fixed ones, mark, workflow, error) and the scrollbar.
CHROME = 2 * (len(FIXED_COLUMNS) + 3) + 1


def column_widths(screen_width: int) -> tuple[int, int]:
    """Widths of the workflow and error columns at a screen width."""
    fixed = sum(width for _, _, width in FIXED_COLUMNS) + MARK_COLUMN[2]
    free = screen_width - fixed - CHROME
    workflow = max(WORKFLOW_MIN, min(WORKFLOW_MAX, free - ERROR_MIN))
    return workflow, max(ERROR_MIN, free - workflow)


def columns(widths: tuple[int, int]) -> list[tuple[str, str, int]]:
    """(key, label, width) of every column, left to right."""
    workflow_width, error_width = widths
    time_column, *rest = FIXED_COLUMNS
    return [
        MARK_COLUMN,
        time_column,
        ("workflow", "workflow", workflow_width),
        *rest,
        ("error", "error", error_width),
    ]


def mark_cell(marked: bool) -> Text:
    """The mark column's cell."""
    return Text(MARK if marked else " ", style="bold yellow")


@lru_cache(maxsize=4096)
def cells(row: ExecutionRow, widths: tuple[int, int], *, marked: bool) -> tuple[Text, ...]:
    """One execution's cells in column order; data strings are shown literally.

    Cached: a refresh that shows the same execution again hands the table the very same
    cell objects, so ``RecordTable`` does not lay them out again. Callers must not
    modify the returned ``Text`` objects.
    """
    workflow_width, error_width = widths
    return (
        mark_cell(marked),
        short_time(row.created_at),
        safe_text(row.workflow, max_length=workflow_width),
        status_text(row.status),
        safe_text(row.trigger_type, max_length=8),
        Text(duration(row.duration_ms), justify="right"),
        number(row.retry_count),
        error_cell(row, error_width),
    )


def error_cell(row: ExecutionRow, width: int) -> Text:
    """The error, after why a PENDING run waits (``waiting:paused``) when it does."""
    error = safe_text(first_line(row.error), style="red", max_length=width)
    if not row.waiting:
        return error
    cell = Text(f"waiting:{row.waiting}", style="yellow")
    if error.plain:
        cell.append(" ")
        cell.append_text(error)
    cell.truncate(width, overflow="ellipsis")
    return cell


def list_status(
    loaded: int,
    *,
    news_above: bool,
    marked: int,
    loading: bool,
    exhausted: bool,
    shown: ExecutionFilter,
) -> Text:
    """The line above the list: rows loaded, newer ones waiting, marks, paging, filter."""
    parts: list[str | Text] = [f"{loaded} loaded"]
    if news_above:
        parts.append(Text(" · newer executions above (home)", style="bold"))
    if marked:
        parts.append(Text(f" · {marked} marked", style="bold yellow"))
    if loading:
        parts.append(" · loading…")
    elif not exhausted:
        parts.append(" · more below")
    if not shown.is_empty:
        parts += [" · filter ", safe_text(shown.to_query(), style="bold")]
    return Text.assemble(*parts)
