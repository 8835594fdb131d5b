"""The workflow list: counters at a glance, the schedule ahead, and the operator's changes.

``/`` narrows by name, ``enter`` opens the editor, ``l`` lists the runs, ``s`` opens the
schedules board; ``space`` (on/off), ``n`` (new), ``delete`` and ``L`` (limits) need
ADMIN, ``r`` (run now) and ``p`` (pause/resume, ``screens/workflow_flow.py``) need
OPERATOR. Each change runs in a worker (``views/workflow_changes.py``) and the list then
reloads.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission
from engine.definitions.starter_templates import template_document, workflow_templates
from engine.services.workflows import WorkflowSummary
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.screens.editor import EditorScreen
from wfconsole.console.screens.run_workflow import RunWorkflowScreen
from wfconsole.console.screens.template_picker import TemplatePickerScreen
from wfconsole.console.screens.workflow_flow import WorkflowFlow
from wfconsole.console.screens.workflow_versions import WorkflowVersionsScreen
from wfconsole.console.views import workflow_changes as changes
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.views.workflow_columns import (
    FIXED_COLUMNS,
    NAME_MIN,
    list_status,
    name_width,
    workflow_cells,
)
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.filter_bar import FilterBar
from wfconsole.console.widgets.record_table import RecordTable, RowDoesNotExist
from wfconsole.console.widgets.safe_text import clean
from wfconsole.console.widgets.schedule_panel import SchedulePanel

LOAD_GROUP = "workflows-load"
CHANGE_GROUP = "workflows-change"
LOOKUP_GROUP = "workflows-lookup"


class WorkflowsScreen(PermissionGate, Screen[None]):
    """Every workflow with its triggers, last run and success rate."""

    TITLE = "wfconsole · workflows"
    AUTO_FOCUS = "#workflows-table"
    PERMISSIONS: ClassVar[dict[str, Permission]] = {
        "toggle_enabled": Permission.EDIT,
        "run_workflow": Permission.OPERATE,
        "new_workflow": Permission.EDIT,
        "delete_workflow": Permission.EDIT,
        "pause_workflow": Permission.OPERATE,
        "workflow_limits": Permission.EDIT,
    }
    BINDINGS = [
        Binding("space", "toggle_enabled", "On/off", key_display="space"),
        Binding("r", "run_workflow", "Run now"),
        Binding("p", "pause_workflow", "Pause"),
        # Not in the footer either: ADMINs find it in ``?`` and the palette.
        Binding("L", "workflow_limits", "Limits", key_display="L", show=False),
        Binding("n", "new_workflow", "New"),
        # The footer makes room for "Pause" at 80 columns: ``?`` and the palette list it.
        Binding("v", "show_versions", "Versions", show=False),
        Binding("l", "show_runs", "Runs"),
        # Not in the footer (it is full at 80 columns); ``?`` and the palette list it.
        Binding("s", "show_schedules", "Schedules", show=False),
        Binding("delete,ctrl+d", "delete_workflow", "Delete", key_display="del"),
        Binding("slash", "open_filter", "Filter", key_display="/"),
    ]

    @dataclass
    class WorkflowsLoaded(Message):
        """A fresh workflow list arrived from the backend."""

        workflows: list[WorkflowSummary]

    @dataclass
    class WorkflowChosen(Message):
        """The operator opened a workflow: the app shows its executions."""

        name: str

    def __init__(self, backend: ConsoleBackend) -> None:
        super().__init__()
        self.backend = backend
        self.workflows: list[WorkflowSummary] = []
        self.name_filter = ""
        self._name_width = NAME_MIN
        self._select_name: str | None = None

    def compose(self) -> ComposeResult:
        """Header, status line, filter, table, footer."""
        yield ConsoleHeader()
        yield Static(id="workflows-status")
        yield FilterBar(placeholder="name contains…  (esc clears)", id="workflows-filter")
        yield RecordTable(id="workflows-table")
        yield SchedulePanel(self.backend, id="workflows-schedule")
        yield WorkflowFlow(self.backend, id="workflows-flow")
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

    # --- the list ------------------------------------------------------------------------

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
        selected = self.table.cursor_key
        return next((w for w in self.workflows if w.id == selected), None)

    def select_workflow(self, name: str) -> None:
        """Put the cursor on the workflow called ``name`` once it is listed."""
        self._select_name = name
        self._fill_rows()

    def on_record_table_row_highlighted(self, _event: RecordTable.RowHighlighted) -> None:
        """Show the schedule of the workflow under the cursor."""
        self._preview_schedule()

    def _preview_schedule(self) -> None:
        self.query_one("#workflows-schedule", SchedulePanel).show_workflow(self.selected_workflow())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report a failed load (the last list stays) or a change that failed unexpectedly."""
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == LOAD_GROUP:
            message = clean(f"could not load workflows: {event.worker.error}")
            self.notify(message, severity="error", markup=False)
        elif event.worker.group in (CHANGE_GROUP, LOOKUP_GROUP):
            self.notify(clean(f"failed: {event.worker.error}"), severity="error", markup=False)

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

    def _fill_rows(self) -> None:
        table = self.table
        selected = table.cursor_key
        if self._select_name is not None:
            wanted = next((w.id for w in self.workflows if w.name == self._select_name), None)
            if wanted is not None:
                selected, self._select_name = wanted, None
        table.clear()
        for workflow in self.visible_workflows():
            table.add_row(*workflow_cells(workflow, self._name_width), key=workflow.id)
        if selected is not None:
            with suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_status()

    def _show_status(self) -> None:
        shown, total = len(self.visible_workflows()), len(self.workflows)
        status = list_status(shown, total, self.name_filter)
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
            self._load_document(chosen.name)

    def action_show_runs(self) -> None:
        """Ask the app for the highlighted workflow's executions."""
        workflow = self.selected_workflow()
        if workflow is not None:
            self.post_message(self.WorkflowChosen(workflow.name))

    def action_show_versions(self) -> None:
        """Open the version history of the highlighted workflow."""
        workflow = self.selected_workflow()
        if workflow is not None:
            self.app.push_screen(
                WorkflowVersionsScreen(self.backend, workflow.name), lambda _: self.reload()
            )

    def action_show_schedules(self) -> None:
        """Open the schedules board (every schedule trigger, its gaps, backfill)."""
        from wfconsole.console.screens.schedules import SchedulesScreen  # loaded on first use

        self.app.push_screen(SchedulesScreen(self.backend))

    # --- the changes ---------------------------------------------------------------------

    def action_toggle_enabled(self) -> None:
        """Enable a disabled workflow, disable an enabled one."""
        workflow = self.selected_workflow()
        if workflow is None:
            return
        name, enabled, actor = workflow.name, not workflow.enabled, self.console.operator

        def toggle() -> str:
            self.backend.set_workflow_enabled(name, enabled, actor=actor)
            return f"{name}: {'enabled' if enabled else 'disabled'}"

        self._change(toggle)

    def action_run_workflow(self) -> None:
        """Ask for the trigger data, then start a run of the highlighted workflow."""
        workflow = self.selected_workflow()
        if workflow is None:
            return
        name, actor = workflow.name, self.console.operator

        def answered(payload: dict[str, Any] | None) -> None:
            if payload is None:
                return

            def run() -> str:
                ids = self.backend.run_workflow(name, payload, actor=actor)
                return f"{name}: started execution {', '.join(ids)}"

            self._change(run)

        self.app.push_screen(RunWorkflowScreen(name), answered)

    def action_pause_workflow(self) -> None:
        """Pause the highlighted workflow, or resume it with a catch-up policy."""
        workflow = self.selected_workflow()
        if workflow is not None and not self.refuse("pause_workflow"):
            flow = self.query_one("#workflows-flow", WorkflowFlow)
            flow.pause_or_resume(workflow.name, self.console.operator)

    def action_workflow_limits(self) -> None:
        """Override or clear the highlighted workflow's concurrency and rate limits."""
        workflow = self.selected_workflow()
        if workflow is not None and not self.refuse("workflow_limits"):
            self.query_one("#workflows-flow", WorkflowFlow).limits(
                workflow.name, self.console.operator
            )

    def action_new_workflow(self) -> None:
        """Pick a template and open it in the editor as a new workflow."""

        def picked(action_type: str | None) -> None:
            if action_type is not None:
                self._edit(template_document(action_type), original_name=None)

        self.app.push_screen(TemplatePickerScreen(workflow_templates()), picked)

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOOKUP_GROUP)
    def _load_document(self, name: str) -> None:
        changes.load_document(self.backend, name, self.post_message)

    def on_document_loaded(self, message: changes.DocumentLoaded) -> None:
        """Open the editor on the loaded definition."""
        self._edit(message.document, original_name=message.name)

    def _edit(self, document: dict[str, Any], *, original_name: str | None) -> None:
        def closed(saved: str | None) -> None:
            if saved is not None:
                self.select_workflow(saved)
            self.reload()

        self.app.push_screen(
            EditorScreen(self.backend, document, original_name=original_name), closed
        )

    def action_delete_workflow(self) -> None:
        """Count what would go with the workflow, then ask before deleting it."""
        workflow = self.selected_workflow()
        if workflow is not None:
            self._count_for_delete(workflow.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOOKUP_GROUP)
    def _count_for_delete(self, name: str) -> None:
        changes.count_for_delete(self.backend, name, self.post_message)

    def on_delete_counted(self, message: changes.DeleteCounted) -> None:
        """Ask, naming the workflow and the executions that go with it."""
        name, actor = message.name, self.console.operator

        def answered(confirmed: bool | None) -> None:
            if not confirmed:
                return

            def delete() -> str:
                gone = self.backend.delete_workflow(name, actor=actor)
                return f"deleted {name} and {gone} execution{'' if gone == 1 else 's'}"

            self._change(delete)

        question = changes.delete_question(name, message.executions)
        self.app.push_screen(ConfirmScreen("Delete workflow", question, yes="delete"), answered)

    @work(thread=True, exit_on_error=False, group=CHANGE_GROUP)
    def _change(self, call: changes.Change) -> None:
        changes.run_change(call, self.post_message)

    def on_change_done(self, message: changes.ChangeDone) -> None:
        """Say what happened and show the list as it is now."""
        self.notify(message.note, severity=message.severity, markup=False)
        self.reload()
