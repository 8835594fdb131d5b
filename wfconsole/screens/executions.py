"""The execution list: newest first, a page at a time, refreshed live while shown."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from engine.services.executions import Cursor, ExecutionRow
from wfconsole.backend import ConsoleBackend
from wfconsole.display import duration, first_line, number, short_time, status_text
from wfconsole.execution_filter import ExecutionFilter, FilterSyntaxError, parse_filter
from wfconsole.execution_window import merge_newest, tail_cursor
from wfconsole.screens.execution_detail import ExecutionDetailScreen
from wfconsole.widgets.filter_bar import FilterBar
from wfconsole.widgets.record_table import RecordTable
from wfconsole.widgets.safe_text import clean, safe_text

PAGE_SIZE = 100
PREFETCH_ROWS = 10  # the next page loads when the cursor is this close to the last row
PAGE_GROUP = "executions-page"
REFRESH_GROUP = "executions-refresh"
FIXED_COLUMNS = (
    ("time", "time (UTC)", 14),
    ("status", "status", 9),
    ("trigger", "trigger", 8),
    ("duration", "duration", 8),
    ("retries", "try", 3),
)
WORKFLOW_MIN, WORKFLOW_MAX, ERROR_MIN = 12, 32, 8
CHROME = 2 * (len(FIXED_COLUMNS) + 2) + 1  # cell padding of every column, scrollbar


def column_widths(screen_width: int) -> tuple[int, int]:
    """Widths of the workflow and error columns at a screen width."""
    free = screen_width - sum(width for _, _, width in FIXED_COLUMNS) - CHROME
    workflow = max(WORKFLOW_MIN, min(WORKFLOW_MAX, free - ERROR_MIN))
    return workflow, max(ERROR_MIN, free - workflow)


class ExecutionsScreen(Screen[None]):
    """Executions newest first; keyset pages load as the cursor nears the end."""

    TITLE = "wfconsole · executions"
    AUTO_FOCUS = "#executions-table"
    BINDINGS = [Binding("slash", "open_filter", "Filter", key_display="/")]

    @dataclass
    class PageLoaded(Message):
        """An older page arrived; ``after`` is the cursor it continued from."""

        generation: int
        after: Cursor
        rows: list[ExecutionRow]

    @dataclass
    class NewestLoaded(Message):
        """The newest page arrived (first load or live refresh)."""

        generation: int
        rows: list[ExecutionRow]

    def __init__(self, backend: ConsoleBackend, *, refresh_interval: float = 2.0) -> None:
        super().__init__()
        self.backend = backend
        self.refresh_interval = refresh_interval
        self.filter = ExecutionFilter()
        self.rows: list[ExecutionRow] = []
        self.exhausted = False
        self._generation = 0
        self._loading_page = False
        self._refresh_timer: Timer | None = None
        self._refresh_missed = False
        self._last_error: str | None = None
        self._widths = column_widths(80)

    def compose(self) -> ComposeResult:
        """Header, status line, filter, table, footer."""
        yield Header()
        yield Static(id="executions-status")
        yield FilterBar(
            placeholder="status:FAILED workflow:NAME, or a workflow name", id="executions-filter"
        )
        yield RecordTable(id="executions-table")
        yield Footer()

    @property
    def table(self) -> RecordTable:
        """The execution table."""
        return self.query_one("#executions-table", RecordTable)

    @property
    def filter_bar(self) -> FilterBar:
        """The status/workflow filter."""
        return self.query_one("#executions-filter", FilterBar)

    def on_mount(self) -> None:
        """Lay out the columns and load the newest page."""
        self._widths = column_widths(self.app.size.width)
        self._rebuild()
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        """Fit the workflow and error columns to the width."""
        widths = column_widths(event.size.width)
        if widths != self._widths:
            self._widths = widths
            self._rebuild()

    def set_filter(self, new_filter: ExecutionFilter) -> None:
        """Show the executions matching ``new_filter``, from the newest."""
        self.filter = new_filter
        self._generation += 1
        self.rows = []
        self.exhausted = False
        self._loading_page = False
        self._rebuild()
        self.reload()

    # --- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the newest page now; its completion schedules the next refresh."""
        self._fetch_newest(self._generation, self.filter)

    @work(thread=True, exclusive=True, exit_on_error=False, group=REFRESH_GROUP)
    def _fetch_newest(self, generation: int, shown: ExecutionFilter) -> None:
        rows = self.backend.list_executions(
            status=shown.status, workflow=shown.workflow, limit=PAGE_SIZE
        )
        self.post_message(self.NewestLoaded(generation, rows))

    @work(thread=True, exclusive=True, exit_on_error=False, group=PAGE_GROUP)
    def _fetch_page(self, generation: int, shown: ExecutionFilter, after: Cursor) -> None:
        rows = self.backend.list_executions(
            status=shown.status, workflow=shown.workflow, limit=PAGE_SIZE, after=after
        )
        self.post_message(self.PageLoaded(generation, after, rows))

    def on_executions_screen_newest_loaded(self, message: NewestLoaded) -> None:
        """Merge the newest page: the database is right about the range it covers."""
        if message.generation != self._generation:
            return
        merged, self.exhausted = merge_newest(
            self.rows, message.rows, page_size=PAGE_SIZE, exhausted=self.exhausted
        )
        self._show_rows(merged)

    def on_executions_screen_page_loaded(self, message: PageLoaded) -> None:
        """Append an older page unless the list changed under it."""
        if message.generation != self._generation:
            return
        self._loading_page = False
        if not self.rows or message.after != tail_cursor(self.rows):
            return
        self.exhausted = len(message.rows) < PAGE_SIZE
        known = {row.id for row in self.rows}
        added = [row for row in message.rows if row.id not in known]
        self.rows.extend(added)
        for row in added:
            self.table.add_row(*self._cells(row), key=row.id)
        self._show_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report failures; a finished refresh schedules the next one (Dolphie's loop)."""
        group, state = event.worker.group, event.state
        if state == WorkerState.ERROR:
            if group == PAGE_GROUP:
                self._loading_page = False
            message = clean(f"could not load executions: {event.worker.error}")
            if message != self._last_error:  # a database that stays down is told once
                self.notify(message, severity="error", markup=False)
            self._last_error = message
        elif state == WorkerState.SUCCESS:
            self._last_error = None
        if group == REFRESH_GROUP and state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self._refresh_timer = self.set_timer(self.refresh_interval, self._on_refresh_timer)

    def _on_refresh_timer(self) -> None:
        self._refresh_timer = None
        if not self.is_active:
            # Hidden behind another screen or mode: pick up again on resume.
            self._refresh_missed = True
            return
        self.reload()

    def on_screen_resume(self) -> None:
        """Catch up at once when shown again after missing a refresh."""
        if self._refresh_missed:
            self._refresh_missed = False
            self.reload()

    def _load_next_page(self) -> None:
        after = tail_cursor(self.rows)
        if after is None or self.exhausted or self._loading_page:
            return
        self._loading_page = True
        self._show_status()
        self._fetch_page(self._generation, self.filter, after)

    # --- showing -------------------------------------------------------------------------

    def _cells(self, row: ExecutionRow) -> tuple[Text, ...]:
        workflow_width, error_width = self._widths
        return (
            short_time(row.created_at),
            safe_text(row.workflow, max_length=workflow_width),
            status_text(row.status),
            safe_text(row.trigger_type, max_length=8),
            Text(duration(row.duration_ms), justify="right"),
            number(row.retry_count),
            safe_text(first_line(row.error), style="red", max_length=error_width),
        )

    def _show_rows(self, merged: list[ExecutionRow]) -> None:
        """Show ``merged``: update cells in place when the ids match, else rebuild."""
        if merged == self.rows:
            self._show_status()
            return
        if [row.id for row in merged] == [row.id for row in self.rows]:
            table = self.table
            for old, new in zip(self.rows, merged, strict=True):
                if old != new:
                    for column, value in zip(table.columns, self._cells(new), strict=True):
                        table.update_cell(new.id, column, value)
            self.rows = merged
            self._show_status()
            return
        self.rows = merged
        self._rebuild()

    def _rebuild(self) -> None:
        """Refill the table, keeping the cursor on the same execution when it is still there."""
        table = self.table
        selected = self.selected_id()
        at_top = table.scroll_y == 0
        offset = table.cursor_row - round(table.scroll_y)
        table.clear(columns=True)
        for key, label, width in self._columns():
            table.add_column(label, width=width, key=key)
        for row in self.rows:
            table.add_row(*self._cells(row), key=row.id)
        index = next((i for i, row in enumerate(self.rows) if row.id == selected), None)
        if index is not None:
            table.move_cursor(row=index, scroll=False)
            target = 0 if at_top else max(0, index - offset)
            table.call_after_refresh(table.scroll_to, y=target, animate=False)
        self._show_status()

    def _columns(self) -> list[tuple[str, str, int]]:
        workflow_width, error_width = self._widths
        time_column, *rest = FIXED_COLUMNS
        return [
            time_column,
            ("workflow", "workflow", workflow_width),
            *rest,
            ("error", "error", error_width),
        ]

    def selected_id(self) -> str | None:
        """The id of the execution under the cursor."""
        table = self.table
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def _show_status(self) -> None:
        parts: list[str | Text] = [f"{len(self.rows)} loaded"]
        if self._loading_page:
            parts.append(" · loading…")
        elif not self.exhausted:
            parts.append(" · more below")
        if not self.filter.is_empty:
            parts += [" · filter ", safe_text(self.filter.to_query(), style="bold")]
        self.query_one("#executions-status", Static).update(Text.assemble(*parts))

    # --- keys ----------------------------------------------------------------------------

    def action_open_filter(self) -> None:
        """Show the filter holding the current one."""
        self.filter_bar.open(self.filter.to_query())

    def on_filter_bar_applied(self, message: FilterBar.Applied) -> None:
        """Parse and apply the filter; a mistake is reported and the bar stays open."""
        try:
            new_filter = parse_filter(message.value)
        except FilterSyntaxError as exc:
            self.notify(clean(exc), severity="error", markup=False)
            self.filter_bar.open(message.value)
            return
        self.table.focus()
        if new_filter != self.filter:
            self.set_filter(new_filter)

    def on_filter_bar_cleared(self, _message: FilterBar.Cleared) -> None:
        """Drop the filter."""
        self.table.focus()
        if not self.filter.is_empty:
            self.set_filter(ExecutionFilter())

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Load the next page when the cursor nears the last loaded row."""
        if event.cursor_row >= self.table.row_count - PREFETCH_ROWS:
            self._load_next_page()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Open the execution under the cursor."""
        event.stop()
        if event.row_key.value is not None:
            self.app.push_screen(ExecutionDetailScreen(self.backend, event.row_key.value))
