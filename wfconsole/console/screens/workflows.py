"""The workflow list: counters at a glance, the schedule ahead, and the operator's changes.

``/`` narrows by name, ``enter`` opens the editor, ``l`` lists the runs; the changes
(``space``, ``r``, ``n``, ``delete``, ``v``) live in ``WorkflowCommands``.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Header, Input, Static
from textual.worker import Worker, WorkerState

from engine.services.workflow_admin import SchedulePreview
from engine.services.workflows import WorkflowSummary
from wfconsole.backend import ConsoleBackend
from wfconsole.display import number, percent, short_time, trigger_list
from wfconsole.screens.workflow_commands import WorkflowCommands
from wfconsole.widgets.console_footer import ConsoleFooter
from wfconsole.widgets.filter_bar import FilterBar
from wfconsole.widgets.record_table import RecordTable, RowDoesNotExist
from wfconsole.widgets.safe_text import clean, safe_text
from wfconsole.widgets.schedule_panel import SchedulePanel

LOAD_GROUP = "workflows-load"
SCHEDULE_GROUP = "workflows-schedule"
# Fixed columns (key, label, width); the name column takes what is left.
FIXED_COLUMNS = (
    ("enabled", "on", 3),
    ("triggers", "triggers", 17),
    ("last_run", "last run (UTC)", 14),
    ("success", "success", 7),
    ("executions", "runs", 6),
)
NAME_MIN, NAME_MAX = 14, 48
# Cell padding on both sides of every column, and the vertical scrollbar.
CHROME = 2 * (len(FIXED_COLUMNS) + 1) + 1


def name_width(screen_width: int) -> int:
    """Width of the name column at a screen width."""
    fixed = sum(width for _, _, width in FIXED_COLUMNS) + CHROME
    return max(NAME_MIN, min(NAME_MAX, screen_width - fixed))


def now() -> datetime:
    """The clock the schedule preview counts from (tests pin it)."""
    return datetime.now(UTC)


class WorkflowsScreen(WorkflowCommands):
    """Every workflow with its triggers, last run and success rate."""

    TITLE = "wfconsole · workflows"
    AUTO_FOCUS = "#workflows-table"
    BINDINGS = [Binding("slash", "open_filter", "Filter", key_display="/")]

    @dataclass
    class WorkflowsLoaded(Message):
        """A fresh workflow list arrived from the backend."""

        workflows: list[WorkflowSummary]

    @dataclass
    class WorkflowChosen(Message):
        """The operator opened a workflow: the app shows its executions."""

        name: str

    @dataclass
    class SchedulesLoaded(Message):
        """The schedule preview of one workflow arrived."""

        workflow_id: str
        previews: list[SchedulePreview]

    def __init__(self, backend: ConsoleBackend) -> None:
        super().__init__()
        self.backend = backend
        self.workflows: list[WorkflowSummary] = []
        self.name_filter = ""
        self._name_width = NAME_MIN
        self._select_name: str | None = None

    def compose(self) -> ComposeResult:
        """Header, status line, filter, table, footer."""
        yield Header()
        yield Static(id="workflows-status")
        yield FilterBar(placeholder="name contains…  (esc clears)", id="workflows-filter")
        yield RecordTable(id="workflows-table")
        yield SchedulePanel(id="workflows-schedule")
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The workflow table."""
        return self.query_one("#workflows-table", RecordTable)

    @property
    def filter_bar(self) -> FilterBar:
        """The name filter."""
        return self.query_one("#workflows-filter", FilterBar)

    def on_mount(self) -> None:
        """Lay out the columns for the current width."""
        self._layout_columns(self.app.size.width)
        self._show_status()

    def on_screen_resume(self) -> None:
        """Reload whenever the screen is shown: counters move while it is hidden."""
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        """Give the name column the width the screen has."""
        if name_width(event.size.width) != self._name_width:
            self._layout_columns(event.size.width)

    def reload(self) -> None:
        """Fetch the workflow list again (in a worker)."""
        self._fetch_workflows()

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch_workflows(self) -> None:
        self.post_message(self.WorkflowsLoaded(self.backend.list_workflows()))

    def on_workflows_screen_workflows_loaded(self, message: WorkflowsLoaded) -> None:
        """Show the list that arrived."""
        self.workflows = message.workflows
        self._fill_rows()
        self._preview_schedule()

    def selected_workflow(self) -> WorkflowSummary | None:
        """The workflow under the cursor, if any."""
        selected = self._selected_id()
        return next((w for w in self.workflows if w.id == selected), None)

    def select_workflow(self, name: str) -> None:
        """Put the cursor on the workflow called ``name`` once it is listed."""
        self._select_name = name
        self._fill_rows()

    def on_record_table_row_highlighted(self, _event: RecordTable.RowHighlighted) -> None:
        """Show the schedule of the workflow under the cursor."""
        self._preview_schedule()

    def _preview_schedule(self) -> None:
        workflow = self.selected_workflow()
        panel = self.query_one("#workflows-schedule", SchedulePanel)
        if workflow is None or "schedule" not in workflow.trigger_types:
            panel.show_previews([])
            return
        self._fetch_schedule(workflow.id, workflow.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group=SCHEDULE_GROUP)
    def _fetch_schedule(self, workflow_id: str, name: str) -> None:
        previews = self.backend.workflow_schedules(name, after=now())
        self.post_message(self.SchedulesLoaded(workflow_id, previews))

    def on_workflows_screen_schedules_loaded(self, message: SchedulesLoaded) -> None:
        """Show the preview if its workflow is still the highlighted one."""
        if message.workflow_id == self._selected_id():
            self.query_one("#workflows-schedule", SchedulePanel).show_previews(message.previews)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report a failed load; the last list stays on screen."""
        if event.worker.group == LOAD_GROUP and event.state == WorkerState.ERROR:
            self.notify(
                clean(f"could not load workflows: {event.worker.error}"),
                severity="error",
                markup=False,
            )

    def visible_workflows(self) -> list[WorkflowSummary]:
        """The workflows whose name contains the filter (case-insensitive)."""
        needle = self.name_filter.casefold()
        return [w for w in self.workflows if needle in w.name.casefold()]

    def _layout_columns(self, screen_width: int) -> None:
        self._name_width = name_width(screen_width)
        self.table.clear(columns=True)
        self.table.add_column("name", width=self._name_width, key="name")
        for key, label, width in FIXED_COLUMNS:
            self.table.add_column(label, width=width, key=key)
        self._fill_rows()

    def _cells(self, workflow: WorkflowSummary) -> tuple[Text, ...]:
        return (
            safe_text(workflow.name, max_length=self._name_width),
            Text("yes", style="green") if workflow.enabled else Text("no", style="dim"),
            trigger_list(workflow.trigger_types, max_length=17),
            short_time(workflow.last_execution_at),
            percent(workflow.success_rate),
            number(workflow.execution_count),
        )

    def _fill_rows(self) -> None:
        table = self.table
        selected = self._selected_id()
        if self._select_name is not None:
            wanted = next((w.id for w in self.workflows if w.name == self._select_name), None)
            if wanted is not None:
                selected, self._select_name = wanted, None
        table.clear()
        for workflow in self.visible_workflows():
            table.add_row(*self._cells(workflow), key=workflow.id)
        if selected is not None:
            with suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_status()

    def _selected_id(self) -> str | None:
        return self.table.cursor_key

    def _show_status(self) -> None:
        shown, total = len(self.visible_workflows()), len(self.workflows)
        status = Text(f"{total} workflows")
        if self.name_filter:
            status = Text.assemble(
                f"{shown} of {total} workflows · name contains ",
                safe_text(self.name_filter, style="bold"),
            )
        self.query_one("#workflows-status", Static).update(status)

    def action_open_filter(self) -> None:
        """Show the name filter."""
        self.filter_bar.open(self.name_filter)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Narrow the rows as the operator types."""
        if event.input is self.filter_bar:
            self.name_filter = event.value
            self._fill_rows()

    def on_filter_bar_applied(self, _message: FilterBar.Applied) -> None:
        """Keep the filter and go back to the table."""
        self.table.focus()

    def on_filter_bar_cleared(self, _message: FilterBar.Cleared) -> None:
        """Show every workflow again."""
        self.name_filter = ""
        self._fill_rows()
        self.table.focus()

    def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """Open this workflow in the editor."""
        event.stop()
        chosen = next((w for w in self.workflows if w.id == event.row_key), None)
        if chosen is not None:
            self.open_editor(chosen.name)

    def action_show_runs(self) -> None:
        """Ask the app for the highlighted workflow's executions."""
        workflow = self.selected_workflow()
        if workflow is not None:
            self.post_message(self.WorkflowChosen(workflow.name))
