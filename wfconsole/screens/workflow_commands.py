"""What an operator can do to a workflow from the list: the keys, their roles, their workers.

``WorkflowsScreen`` builds on this base; each change runs in a worker and reports back
with ``ChangeDone``; the list then reloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission, PermissionDenied
from engine.definitions.schema import DefinitionError
from engine.definitions.starter_templates import template_document, workflow_templates
from engine.services.workflows import WorkflowSummary
from engine.triggers.new_executions import WorkflowDisabled
from wfconsole.backend import ConsoleBackend
from wfconsole.screens.confirm import ConfirmScreen
from wfconsole.screens.editor import EditorScreen
from wfconsole.screens.permission_keys import PermissionKeysScreen
from wfconsole.screens.run_dialog import RunWorkflowScreen
from wfconsole.screens.template_picker import TemplatePickerScreen
from wfconsole.screens.workflow_versions import WorkflowVersionsScreen
from wfconsole.widgets.safe_text import clean, safe_text

CHANGE_GROUP = "workflows-change"
LOOKUP_GROUP = "workflows-lookup"
# Errors a change can end with that the operator should read as they are.
EXPECTED_ERRORS = (PermissionDenied, LookupError, WorkflowDisabled, DefinitionError, ValueError)
Severity = Literal["information", "warning", "error"]


class WorkflowCommands(PermissionKeysScreen):
    """The workflow list's change keys; the list itself is ``WorkflowsScreen``."""

    PERMISSIONS: ClassVar[dict[str, Permission]] = {
        "toggle_enabled": Permission.EDIT,
        "run_workflow": Permission.OPERATE,
        "new_workflow": Permission.EDIT,
        "delete_workflow": Permission.EDIT,
    }
    BINDINGS = [
        Binding("space", "toggle_enabled", "On/off", key_display="space"),
        Binding("r", "run_workflow", "Run now"),
        Binding("n", "new_workflow", "New"),
        Binding("v", "show_versions", "Versions"),
        Binding("l", "show_runs", "Runs"),
        Binding("delete,ctrl+d", "delete_workflow", "Delete", key_display="del"),
    ]

    backend: ConsoleBackend

    @dataclass
    class ChangeDone(Message):
        """A change finished (or was refused); ``note`` says what happened."""

        note: str
        severity: Severity

    @dataclass
    class DeleteCounted(Message):
        """The executions a delete would take with it were counted: ask the operator."""

        name: str
        executions: int

    @dataclass
    class DocumentLoaded(Message):
        """A workflow's definition arrived: open it in the editor."""

        name: str
        document: dict[str, Any]

    # --- what the list provides -------------------------------------------------------

    def selected_workflow(self) -> WorkflowSummary | None:
        """The workflow under the cursor, if any."""
        raise NotImplementedError

    def select_workflow(self, name: str) -> None:
        """Put the cursor on ``name`` once it is listed."""
        raise NotImplementedError

    def reload(self) -> None:
        """Fetch the workflow list again."""
        raise NotImplementedError

    # --- the changes ------------------------------------------------------------------

    def action_toggle_enabled(self) -> None:
        """Enable a disabled workflow, disable an enabled one."""
        workflow = self.selected_workflow()
        if workflow is None:
            return
        name, enabled = workflow.name, not workflow.enabled

        def toggle() -> str:
            self.backend.set_workflow_enabled(name, enabled, actor=self.console.operator)
            return f"{name}: {'enabled' if enabled else 'disabled'}"

        self._change(toggle)

    def action_run_workflow(self) -> None:
        """Ask for the trigger data, then start a run of the highlighted workflow."""
        workflow = self.selected_workflow()
        if workflow is None:
            return
        name = workflow.name

        def answered(payload: dict[str, Any] | None) -> None:
            if payload is None:
                return

            def run() -> str:
                ids = self.backend.run_workflow(name, payload, actor=self.console.operator)
                return f"{name}: started execution {', '.join(ids)}"

            self._change(run)

        self.app.push_screen(RunWorkflowScreen(name), answered)

    def action_new_workflow(self) -> None:
        """Pick a template and open it in the editor as a new workflow."""

        def picked(action_type: str | None) -> None:
            if action_type is not None:
                self._edit(template_document(action_type), original_name=None)

        self.app.push_screen(TemplatePickerScreen(workflow_templates()), picked)

    def open_editor(self, name: str) -> None:
        """Load ``name``'s definition and open it in the editor."""
        self._load_document(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOOKUP_GROUP)
    def _load_document(self, name: str) -> None:
        try:
            document = self.backend.workflow_document(name)
        except LookupError as exc:
            self.post_message(self.ChangeDone(clean(exc), "error"))
            return
        self.post_message(self.DocumentLoaded(name, document))

    def on_workflow_commands_document_loaded(self, message: DocumentLoaded) -> None:
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
        try:
            count = self.backend.count_workflow_executions(name)
        except LookupError as exc:
            self.post_message(self.ChangeDone(clean(exc), "error"))
            return
        self.post_message(self.DeleteCounted(name, count))

    def on_workflow_commands_delete_counted(self, message: DeleteCounted) -> None:
        """Ask, naming the workflow and the executions that go with it."""
        name, count = message.name, message.executions
        question = Text.assemble(
            "Delete workflow ", safe_text(name, style="bold", max_length=120), "?\n",
            (f"Its {count} execution{'' if count == 1 else 's'}", "bold"),
            ", their steps and logs, and every saved version go with it.\n"
            "This cannot be undone.",
        )  # fmt: skip

        def answered(confirmed: bool | None) -> None:
            if not confirmed:
                return

            def delete() -> str:
                gone = self.backend.delete_workflow(name, actor=self.console.operator)
                return f"deleted {name} and {gone} execution{'' if gone == 1 else 's'}"

            self._change(delete)

        self.app.push_screen(ConfirmScreen("Delete workflow", question, yes="delete"), answered)

    def action_show_versions(self) -> None:
        """Open the version history of the highlighted workflow."""
        workflow = self.selected_workflow()
        if workflow is not None:
            self.app.push_screen(
                WorkflowVersionsScreen(self.backend, workflow.name), lambda _: self.reload()
            )

    def action_show_runs(self) -> None:
        """Show the highlighted workflow's executions."""
        raise NotImplementedError

    # --- running a change -------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group=CHANGE_GROUP)
    def _change(self, call: Callable[[], str]) -> None:
        try:
            note = call()
        except EXPECTED_ERRORS as exc:
            self.post_message(self.ChangeDone(clean(exc), "error"))
        else:
            self.post_message(self.ChangeDone(clean(note), "information"))

    def on_workflow_commands_change_done(self, message: ChangeDone) -> None:
        """Say what happened and show the list as it is now."""
        self.notify(message.note, severity=message.severity, markup=False)
        self.reload()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A change that failed for an unexpected reason is still reported."""
        if event.worker.group in (CHANGE_GROUP, LOOKUP_GROUP) and event.state == WorkerState.ERROR:
            self.notify(clean(f"failed: {event.worker.error}"), severity="error", markup=False)
