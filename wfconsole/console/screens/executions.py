"""The execution list: newest first, a page at a time, refreshed live while shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission
from wfconsole.console.backend import ConsoleBackend, answer_now
from wfconsole.console.views.bulk_actions import BulkActions
from wfconsole.console.views.execution_columns import (
    cells,
    column_widths,
    columns,
    list_status,
    mark_cell,
)
from wfconsole.console.views.execution_filter import (
    ExecutionFilter,
    FilterSyntaxError,
    list_arguments,
    parse_filter,
)
from wfconsole.console.views.execution_window import merge_newest, tail_cursor
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.views.refresh_loop import RefreshLoop
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.filter_bar import FilterBar
from wfconsole.console.widgets.record_table import RecordTable
from wfconsole.console.widgets.safe_text import clean, safe_text

if TYPE_CHECKING:
    from engine.services.blast_radius import BlastRadius, BulkAction
    from engine.services.executions import Cursor, ExecutionRow

PAGE_SIZE = 100
PREFETCH_ROWS = 10  # the next page loads when the cursor is this close to the last row
PAGE_GROUP = "executions-page"
REFRESH_GROUP = "executions-refresh"
FILTER_HINT = (
    "status:FAILED workflow:NAME trigger:webhook since:24h error:TEXT where:trigger.PATH = VALUE"
)


def blast_radius_dialog(radius: BlastRadius) -> Screen[bool]:
    """The retry/cancel confirmation; its module loads on first use, not with the list
    (the first screen)."""
    from wfconsole.console.screens.blast_radius import BlastRadiusScreen

    return BlastRadiusScreen(radius)


class ExecutionsScreen(PermissionGate, Screen[None]):
    """Executions newest first; keyset pages load as the cursor nears the end."""

    TITLE = "wfconsole · executions"
    AUTO_FOCUS = "#executions-table"
    PERMISSIONS: ClassVar[dict[str, Permission]] = {
        "retry": Permission.OPERATE,
        "cancel": Permission.OPERATE,
        "replay": Permission.OPERATE,
    }
    REFUSALS: ClassVar[dict[str, str]] = {
        "retry": "cannot retry",
        "cancel": "cannot cancel",
        "replay": "cannot replay",
    }
    BINDINGS = [
        Binding("slash", "open_filter", "Filter", key_display="/"),
        Binding("space", "toggle_mark", "Mark"),
        Binding("r", "retry", "Retry"),
        Binding("c", "cancel", "Cancel"),
        Binding("equals_sign", "diff", "Diff", key_display="="),
        Binding("R", "replay", "Replay", key_display="R"),
    ]

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
        self.marked: dict[str, None] = {}
        """Ids of the marked executions, in the order they were marked."""
        self.exhausted = False
        self._generation = 0
        self._loading_page = False
        self._refresh = RefreshLoop(self, self.reload)
        self._news_above = False
        self._last_error: str | None = None
        self._widths = column_widths(80)

    def compose(self) -> ComposeResult:
        """Header, status line, filter, table, footer."""
        yield ConsoleHeader()
        yield Static(id="executions-status")
        yield FilterBar(placeholder=FILTER_HINT, id="executions-filter")
        yield Static(id="executions-filter-error")
        yield RecordTable(id="executions-table")
        yield BulkActions(self.backend, confirm=blast_radius_dialog, id="executions-bulk")
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The execution table."""
        return self.query_one("#executions-table", RecordTable)

    @property
    def filter_bar(self) -> FilterBar:
        """The status/workflow filter."""
        return self.query_one("#executions-filter", FilterBar)

    def on_mount(self) -> None:
        """Lay out the columns and load the newest page: at once when the backend has it
        at hand (the console's first screen, read plainly), else from a worker."""
        self._widths = column_widths(self.app.size.width)
        self._rebuild()
        args = list_arguments(self.filter, datetime.now(UTC))
        rows = answer_now(self.backend, "list_executions", **args, limit=PAGE_SIZE)
        if rows is None:
            self.reload()
            return
        self.on_executions_screen_newest_loaded(self.NewestLoaded(self._generation, rows))
        self._refresh.schedule(self.refresh_interval)

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
        self.marked = {}  # marks act on what is shown: a new filter starts without any
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
        args = list_arguments(shown, datetime.now(UTC))
        rows = self.backend.list_executions(**args, limit=PAGE_SIZE)
        self.post_message(self.NewestLoaded(generation, rows))

    @work(thread=True, exclusive=True, exit_on_error=False, group=PAGE_GROUP)
    def _fetch_page(self, generation: int, shown: ExecutionFilter, after: Cursor) -> None:
        args = list_arguments(shown, datetime.now(UTC))
        rows = self.backend.list_executions(**args, limit=PAGE_SIZE, after=after)
        self.post_message(self.PageLoaded(generation, after, rows))

    def on_executions_screen_newest_loaded(self, message: NewestLoaded) -> None:
        """Merge the newest page: the database is right about the range it covers.

        Live updates apply while the cursor is on the first page, and the window is cut
        back to that page first, so a refresh redraws at most two pages however deep the
        operator once scrolled. Deeper down, the rows stay still and the status line says
        that newer executions wait above (``home`` goes there; the next refresh shows them).
        """
        if message.generation != self._generation:
            return
        if self.rows and self.table.cursor_row >= PAGE_SIZE:
            newest = message.rows[0].id if message.rows else None
            self._news_above = newest is not None and newest != self.rows[0].id
            self._show_status()
            return
        self._news_above = False
        window, exhausted = self.rows, self.exhausted
        if len(window) > PAGE_SIZE:
            window, exhausted = window[:PAGE_SIZE], False
        merged, self.exhausted = merge_newest(
            window, message.rows, page_size=PAGE_SIZE, exhausted=exhausted
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
            self._refresh.schedule(self.refresh_interval)

    def on_screen_resume(self) -> None:
        """Catch up at once when shown again after missing a refresh."""
        self._refresh.resume()

    def _load_next_page(self) -> None:
        after = tail_cursor(self.rows)
        if after is None or self.exhausted or self._loading_page:
            return
        self._loading_page = True
        self._show_status()
        self._fetch_page(self._generation, self.filter, after)

    # --- showing -------------------------------------------------------------------------

    def _cells(self, row: ExecutionRow) -> tuple[Text, ...]:
        return cells(row, self._widths, marked=row.id in self.marked)

    def _show_rows(self, merged: list[ExecutionRow]) -> None:
        """Show ``merged``: update cells in place when the ids match, else rebuild."""
        if merged == self.rows:
            self._show_status()
            return
        if [row.id for row in merged] == [row.id for row in self.rows]:
            table = self.table
            for old, new in zip(self.rows, merged, strict=True):
                if old != new:
                    table.update_row(new.id, self._cells(new))
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
        return columns(self._widths)

    def selected_id(self) -> str | None:
        """The id of the execution under the cursor."""
        return self.table.cursor_key

    def _show_status(self) -> None:
        status = list_status(
            len(self.rows),
            news_above=self._news_above,
            marked=len(self.marked),
            loading=self._loading_page,
            exhausted=self.exhausted,
            shown=self.filter,
        )
        self.query_one("#executions-status", Static).update(status)

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
            self._show_filter_error(str(exc))
            self.filter_bar.open(message.value)
            return
        self._show_filter_error(None)
        self.table.focus()
        if new_filter != self.filter:
            self.set_filter(new_filter)

    def on_filter_bar_cleared(self, _message: FilterBar.Cleared) -> None:
        """Drop the filter."""
        self._show_filter_error(None)
        self.table.focus()
        if not self.filter.is_empty:
            self.set_filter(ExecutionFilter())

    def _show_filter_error(self, error: str | None) -> None:
        """Under the open filter bar, why the text was refused (hidden when it was not)."""
        line = self.query_one("#executions-filter-error", Static)
        line.update(Text() if error is None else safe_text(error, style="red"))
        line.set_class(error is not None, "-shown")

    def on_record_table_row_highlighted(self, event: RecordTable.RowHighlighted) -> None:
        """Load the next page near the end; back on the first page, catch up with news."""
        if event.cursor_row >= self.table.row_count - PREFETCH_ROWS:
            self._load_next_page()
        if self._news_above and event.cursor_row < PAGE_SIZE:
            self._news_above = False
            self.reload()

    def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """Open the execution under the cursor."""
        event.stop()
        from wfconsole.console.screens.execution_detail import ExecutionDetailScreen

        self.app.push_screen(ExecutionDetailScreen(self.backend, event.row_key))

    def action_diff(self) -> None:
        """Compare the highlighted execution with the last success of its workflow."""
        selected = self.selected_id()
        row = next((r for r in self.rows if r.id == selected), None)
        if row is None:
            return
        from wfconsole.console.screens.run_diff import RunDiffScreen  # loaded on first use

        self.app.push_screen(RunDiffScreen(self.backend, row.id, workflow=row.workflow))

    def action_replay(self) -> None:
        """Replay the highlighted execution after previewing what it would send."""
        if self.refuse("replay"):
            return
        selected = self.selected_id()
        if selected is not None:
            from wfconsole.console.screens.replay import open_replay  # loaded on first use

            open_replay(self, self.backend, selected, on_created=self.reload)

    # --- marks and bulk actions ----------------------------------------------------------

    def action_toggle_mark(self) -> None:
        """Mark or unmark the execution under the cursor, then move down a row."""
        execution_id = self.selected_id()
        if execution_id is None:
            return
        if execution_id in self.marked:
            del self.marked[execution_id]
        else:
            self.marked[execution_id] = None
        self.table.update_cell(execution_id, "mark", mark_cell(execution_id in self.marked))
        self.table.action_cursor_down()
        self._show_status()

    def target_ids(self) -> list[str]:
        """The marked executions, or else the one under the cursor."""
        if self.marked:
            return list(self.marked)
        selected = self.selected_id()
        return [] if selected is None else [selected]

    def action_retry(self) -> None:
        """Retry the marked executions (or the highlighted one) after showing the blast radius."""
        self._bulk("retry")

    def action_cancel(self) -> None:
        """Cancel the marked executions (or the highlighted one) after showing the blast radius."""
        self._bulk("cancel")

    def _bulk(self, action: BulkAction) -> None:
        if self.refuse(action):
            return
        ids = self.target_ids()
        if ids:
            self.query_one(BulkActions).start(action, ids, actor=self.console.operator)

    def on_bulk_actions_applied(self, message: BulkActions.Applied) -> None:
        """Tell the outcome, drop the marks and show the new states."""
        self.notify(clean(message.summary), markup=False)
        if self.marked:
            self.marked = {}
            self._rebuild()
        self.reload()
