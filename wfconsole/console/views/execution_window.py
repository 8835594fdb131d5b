"""The loaded part of a long, newest-first execution list, and how a fresh page merges in.

The console never holds the whole table: it holds a window from the newest row down to
wherever the operator scrolled, and re-reads only the newest page to stay live.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.services.executions import Cursor, ExecutionRow


def sort_key(row: ExecutionRow) -> tuple[datetime, str]:
    """The keyset order of the list (compared descending)."""
    return (row.created_at, row.id)


def tail_cursor(rows: list[ExecutionRow]) -> Cursor | None:
    """The cursor that continues after the last loaded row."""
    from engine.services.executions import Cursor  # loaded with the rows, off the UI thread

    return Cursor(rows[-1].created_at, rows[-1].id) if rows else None


def merge_newest(
    shown: list[ExecutionRow], newest: list[ExecutionRow], *, page_size: int, exhausted: bool
) -> tuple[list[ExecutionRow], bool]:
    """Merge a fresh newest page into the window; returns (rows, exhausted).

    Within the range the page covers the database is right (new, changed and deleted rows
    all show); older loaded rows stay. When more than a page arrived since the last look
    the window cannot be bridged and restarts at the newest page.
    """
    if len(newest) < page_size:
        return list(newest), True
    oldest_fresh = sort_key(newest[-1])
    if not shown or sort_key(shown[0]) < oldest_fresh:
        return list(newest), False
    return list(newest) + [row for row in shown if sort_key(row) < oldest_fresh], exhausted
