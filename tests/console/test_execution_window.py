"""How a fresh newest page merges into the loaded window of the execution list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.services.executions import ExecutionRow
from wfconsole.console.views.execution_window import merge_newest, tail_cursor

PAGE = 3
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def row(minute: int, status: str = "SUCCESS") -> ExecutionRow:
    """An execution created ``minute`` minutes after T0 (higher is newer)."""
    return ExecutionRow(
        id=f"id-{minute:03d}", workflow="w", status=status, trigger_type="manual",
        created_at=T0 + timedelta(minutes=minute), started_at=None, completed_at=None,
        duration_ms=None, retry_count=0, error=None,
    )  # fmt: skip


def newest_first(*minutes: int) -> list[ExecutionRow]:
    return [row(m) for m in sorted(minutes, reverse=True)]


def test_a_short_page_is_the_whole_list() -> None:
    merged, exhausted = merge_newest(newest_first(5, 4), newest_first(6, 5), page_size=PAGE,
                                     exhausted=False)  # fmt: skip
    assert merged == newest_first(6, 5)
    assert exhausted


def test_new_rows_go_on_top_of_the_older_loaded_ones() -> None:
    shown = newest_first(9, 8, 7, 6, 5, 4)
    merged, exhausted = merge_newest(shown, newest_first(11, 10, 9), page_size=PAGE,
                                     exhausted=False)  # fmt: skip
    assert merged == newest_first(11, 10, 9, 8, 7, 6, 5, 4)
    assert not exhausted


def test_changed_and_deleted_rows_in_the_page_range_follow_the_database() -> None:
    shown = newest_first(9, 8, 7, 6)
    fresh = [row(9, "FAILED"), row(7), row(6)]
    merged, _ = merge_newest(shown, fresh, page_size=PAGE, exhausted=True)
    assert merged == [row(9, "FAILED"), row(7), row(6)]


def test_more_than_a_page_of_new_rows_restarts_the_window() -> None:
    shown = newest_first(3, 2, 1)
    merged, exhausted = merge_newest(shown, newest_first(9, 8, 7), page_size=PAGE,
                                     exhausted=True)  # fmt: skip
    assert merged == newest_first(9, 8, 7)
    assert not exhausted


def test_tail_cursor_continues_after_the_last_row() -> None:
    rows = newest_first(3, 2)
    cursor = tail_cursor(rows)
    assert cursor is not None
    assert (cursor.created_at, cursor.id) == (row(2).created_at, row(2).id)
    assert tail_cursor([]) is None


def test_unchanged_page_changes_nothing() -> None:
    shown = newest_first(5, 4, 3, 2)
    merged, exhausted = merge_newest(shown, shown[:PAGE], page_size=PAGE, exhausted=False)
    assert merged == shown
    assert not exhausted
