"""The workflow editor: the definition as JSON, checked as you type, saved with ``ctrl+s``.

Errors from the schema are listed by JSON path beside the text; save is refused while any
remain. ``ctrl+r`` opens a dry run of the current text against a sample payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static, TextArea
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission, PermissionDenied
from engine.definitions.schema import DefinitionError
from engine.services.workflow_editing import DefinitionCheck, check_definition_text
from engine.services.workflows import SaveResult, WorkflowNotFound
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.discard_changes import DiscardChangesScreen
from wfconsole.console.screens.dry_run import DryRunScreen
from wfconsole.console.views.editor_text import document_text, errors_text, only_rename
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.safe_text import clean, safe_text

CHECK_GROUP = "editor-check"
SAVE_GROUP = "editor-save"
CHECK_DELAY = 0.15
"""Seconds of quiet typing before the text is checked again."""


class EditorScreen(PermissionGate, Screen[str | None]):
    """Edit one definition; dismisses with the saved workflow's name, or None.

    Saving needs EDIT (``Permission.EDIT``): for other roles ``ctrl+s`` shows disabled.
    """

    TITLE = "wfconsole · editor"
    AUTO_FOCUS = "#editor-text"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+r", "dry_run", "Dry run"),
        Binding("escape", "leave", "Back"),
        # Only reached when the text does not have focus (there, q is typed).
        Binding("q", "quit_console", "Quit", show=False),
    ]
    PERMISSIONS: ClassVar[dict[str, Permission]] = {"save": Permission.EDIT}
    REFUSALS: ClassVar[dict[str, str]] = {"save": "cannot save"}

    @dataclass
    class Checked(Message):
        """The text of one edit generation was parsed and validated."""

        generation: int
        check: DefinitionCheck

    @dataclass
    class Saved(Message):
        """The backend stored the definition."""

        result: SaveResult

    @dataclass
    class SaveRefused(Message):
        """The backend refused the definition; ``errors`` are path-named."""

        errors: tuple[tuple[str, str], ...]

    def __init__(
        self, backend: ConsoleBackend, document: dict[str, Any], *, original_name: str | None
    ) -> None:
        super().__init__()
        self.backend = backend
        self.original_name = original_name
        self.saved_text = document_text(document)
        self.generation = 0
        self.check: DefinitionCheck = check_definition_text(
            self.saved_text, original_name=original_name
        )
        self.checked_generation = 0
        self._check_timer: Timer | None = None
        self.payload_text: str | None = None
        """The dry run's last payload, offered again by the next dry run."""

    def compose(self) -> ComposeResult:
        """Header, status line, the text beside its errors, footer."""
        yield ConsoleHeader()
        yield Static(id="editor-status")
        with Horizontal(id="editor-body"):
            yield TextArea(
                self.saved_text,
                language="json",
                show_line_numbers=True,
                tab_behavior="focus",
                id="editor-text",
            )
            with VerticalScroll(id="editor-errors") as errors:
                errors.border_title = "Errors"
                errors.can_focus = True
                yield Static(id="editor-error-list")
        yield ConsoleFooter()

    @property
    def text_area(self) -> TextArea:
        """The JSON text."""
        return self.query_one("#editor-text", TextArea)

    @property
    def dirty(self) -> bool:
        """Whether the text differs from what was loaded or last saved."""
        return self.text_area.text != self.saved_text

    def on_mount(self) -> None:
        """Show the check of the document as loaded."""
        self._show_check()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        """Check the text again once typing pauses."""
        event.stop()
        self.generation += 1
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(CHECK_DELAY, self._start_check)
        self._show_status()

    def _start_check(self) -> None:
        self._check_text(self.generation, self.text_area.text)

    @work(thread=True, exclusive=True, exit_on_error=False, group=CHECK_GROUP)
    def _check_text(self, generation: int, text: str) -> None:
        self.post_message(
            self.Checked(generation, check_definition_text(text, original_name=self.original_name))
        )

    def on_editor_screen_checked(self, message: Checked) -> None:
        """Show the newest check; a stale one (older text) is dropped."""
        if message.generation < self.checked_generation:
            return
        self.checked_generation = message.generation
        self.check = message.check
        self._show_check()

    @property
    def up_to_date(self) -> bool:
        """Whether the shown check is of the current text."""
        return self.checked_generation == self.generation

    def _show_check(self) -> None:
        self.query_one("#editor-error-list", Static).update(
            errors_text(self.check.errors) if self.check.errors else Text("no errors", "green")
        )
        errors = self.query_one("#editor-errors", VerticalScroll)
        errors.set_class(not self.check.valid, "-invalid")
        count = len(self.check.errors)
        errors.border_title = f"Errors ({count})" if count else "Errors"
        self._show_status()

    def _show_status(self) -> None:
        name = self.original_name or "new workflow"
        status = Text.assemble(safe_text(name, style="bold", max_length=40), " · ")
        if not self.up_to_date:
            status.append("checking…", style="dim")
        elif self.check.valid:
            status.append("valid", style="bold green")
        else:
            count = len(self.check.errors)
            status.append(f"invalid ({count} error{'s' if count > 1 else ''})", style="bold red")
        if self.dirty:
            status.append(" · unsaved changes", style="yellow")
        reason = self.denial_for("save")
        if reason is not None:
            status.append(f" · save disabled: {reason}", style="dim")
        self.query_one("#editor-status", Static).update(status)

    def action_save(self) -> None:
        """Save the text as a new version, unless it is invalid or not checked yet."""
        if self.refuse("save"):
            return
        check = check_definition_text(self.text_area.text, original_name=self.original_name)
        if not check.valid:
            self.generation += 1
            self.on_editor_screen_checked(self.Checked(self.generation, check))
            path, message = check.errors[0]
            self.notify(
                clean(f"not saved: {path + ': ' if path else ''}{message}"),
                severity="error",
                markup=False,
            )
            return
        self._save(check.document)

    @work(thread=True, exclusive=True, exit_on_error=False, group=SAVE_GROUP)
    def _save(self, document: dict[str, Any]) -> None:
        try:
            result = self.backend.save_workflow(
                document, actor=self.console.operator, original_name=self.original_name
            )
        except DefinitionError as exc:
            self.post_message(self.SaveRefused(tuple(exc.errors)))
        except (PermissionDenied, WorkflowNotFound) as exc:
            self.post_message(self.SaveRefused((("", str(exc)),)))
        else:
            self.post_message(self.Saved(result))

    def on_editor_screen_saved(self, message: Saved) -> None:
        """Report the new version and close the editor with the workflow's name."""
        result = message.result
        if result.outcome == "unchanged":
            note = f"{result.name}: no changes, still version {result.version}"
        else:
            note = f"saved {result.name} as version {result.version}"
        self.notify(clean(note), markup=False)
        self.saved_text = self.text_area.text
        self.dismiss(result.name)

    def on_editor_screen_save_refused(self, message: SaveRefused) -> None:
        """List why the backend refused and stay in the editor."""
        self.check = DefinitionCheck(self.check.document, message.errors)
        self._show_check()
        path, text = message.errors[0]
        self.notify(
            clean(f"not saved: {path + ': ' if path else ''}{text}"),
            severity="error",
            markup=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report a save that failed for a reason the backend did not explain."""
        if event.worker.group == SAVE_GROUP and event.state == WorkerState.ERROR:
            self.notify(clean(f"save failed: {event.worker.error}"), severity="error", markup=False)

    def action_dry_run(self) -> None:
        """Open the dry run of the current text (refused while it is invalid)."""
        check = check_definition_text(self.text_area.text, original_name=self.original_name)
        if not check.valid and not only_rename(check):
            self.notify("fix the errors before a dry run", severity="warning")
            return

        def keep_payload(payload_text: str | None) -> None:
            self.payload_text = payload_text

        self.app.push_screen(
            DryRunScreen(check.document, payload_text=self.payload_text), keep_payload
        )

    def action_leave(self) -> None:
        """Back to where the editor was opened from; asks first when changes are unsaved."""
        if not self.dirty:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(DiscardChangesScreen(), answered)

    def action_quit_console(self) -> None:
        """Quit the console, asking first when changes are unsaved."""
        if not self.dirty:
            self.app.exit()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.app.exit()

        self.app.push_screen(
            DiscardChangesScreen("Quit wfconsole and lose your changes?"), answered
        )
