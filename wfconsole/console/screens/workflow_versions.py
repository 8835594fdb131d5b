"""A workflow's version history: who saved what, the diff of each version, roll back.

The diff of the highlighted version is shown against the workflow as it is now, or with
``p`` against the version before it. ``b`` saves the highlighted version's definition as
a new version (history is never rewritten).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission, PermissionDenied
from engine.definitions.schema import DefinitionError
from engine.services.workflow_versions import VersionDiff
from engine.services.workflows import VersionSummary
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.views.display import full_time
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.views.version_diff import diff_text
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.record_table import RecordTable
from wfconsole.console.widgets.safe_text import clean, safe_text

LOAD_GROUP = "versions-load"
DIFF_GROUP = "versions-diff"
CHANGE_GROUP = "versions-change"
Base = Literal["current", "previous"]


class WorkflowVersionsScreen(PermissionGate, Screen[None]):
    """Every saved version of one workflow, newest first, with the highlighted one's diff."""

    TITLE = "wfconsole · versions"
    AUTO_FOCUS = "#versions-table"
    PERMISSIONS: ClassVar[dict[str, Permission]] = {"roll_back": Permission.EDIT}
    BINDINGS = [
        Binding("p", "toggle_base", "Diff base"),
        Binding("b", "roll_back", "Roll back"),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class VersionsLoaded(Message):
        """The version list arrived."""

        versions: list[VersionSummary]

    @dataclass
    class DiffLoaded(Message):
        """The diff of one version arrived."""

        version: int
        base: Base
        diff: VersionDiff

    @dataclass
    class RolledBack(Message):
        """A roll-back finished (or was refused); ``note`` says what happened."""

        note: str
        failed: bool

    def __init__(self, backend: ConsoleBackend, workflow: str) -> None:
        super().__init__()
        self.backend = backend
        self.workflow = workflow
        self.versions: list[VersionSummary] = []
        self.base: Base = "current"
        self.diff: VersionDiff | None = None

    def compose(self) -> ComposeResult:
        """Header, status line, the versions, the diff, footer."""
        yield ConsoleHeader()
        yield Static(id="versions-status")
        yield RecordTable(id="versions-table")
        with VerticalScroll(id="versions-diff") as diff:
            diff.can_focus = True
            yield Static(id="versions-diff-text")
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The version list."""
        return self.query_one("#versions-table", RecordTable)

    def on_mount(self) -> None:
        """Lay out the columns and load the versions."""
        self.table.add_column("version", width=7, key="version")
        self.table.add_column("saved at", width=27, key="saved_at")
        self.table.add_column("saved by", key="saved_by")
        self._show_status()
        self.reload()

    def reload(self) -> None:
        """Fetch the version list again (in a worker)."""
        self._fetch_versions()

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch_versions(self) -> None:
        self.post_message(self.VersionsLoaded(self.backend.list_workflow_versions(self.workflow)))

    def on_workflow_versions_screen_versions_loaded(self, message: VersionsLoaded) -> None:
        """Show the versions; the cursor stays on the version it was on."""
        selected = self.selected_version()
        self.versions = message.versions
        table = self.table
        table.clear()
        for row in self.versions:
            table.add_row(
                Text(f"v{row.version}", justify="right"),
                Text(full_time(row.created_at)),
                safe_text(row.created_by or "-", max_length=60),
                key=str(row.version),
            )
        numbers = [row.version for row in self.versions]
        if selected in numbers:
            table.move_cursor(row=numbers.index(selected), animate=False)
        self._show_status()
        self._load_diff()

    def selected_version(self) -> int | None:
        """The version number under the cursor, if any."""
        key = self.table.cursor_key
        return None if key is None else int(key)

    def on_record_table_row_highlighted(self, _event: RecordTable.RowHighlighted) -> None:
        """Show the highlighted version's diff."""
        self._load_diff()

    def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """``enter``: read the diff (focus moves to it; ``escape`` comes back)."""
        event.stop()
        self.query_one("#versions-diff", VerticalScroll).focus()

    def _compared(self) -> tuple[int | None, int | None] | None:
        """The (old, new) versions the diff shows; None when there is nothing before."""
        version = self.selected_version()
        if version is None:
            return None
        if self.base == "current":
            return version, None
        older = [v.version for v in self.versions if v.version < version]
        return (max(older), version) if older else None

    def _load_diff(self) -> None:
        compared = self._compared()
        version = self.selected_version()
        if compared is None or version is None:
            self.diff = None
            self._show_diff()
            return
        self._fetch_diff(version, self.base, *compared)

    @work(thread=True, exclusive=True, exit_on_error=False, group=DIFF_GROUP)
    def _fetch_diff(self, version: int, base: Base, old: int | None, new: int | None) -> None:
        diff = self.backend.diff_workflow_versions(self.workflow, old, new)
        self.post_message(self.DiffLoaded(version, base, diff))

    def on_workflow_versions_screen_diff_loaded(self, message: DiffLoaded) -> None:
        """Show the diff if it is still the one asked for."""
        if message.version == self.selected_version() and message.base == self.base:
            self.diff = message.diff
            self._show_diff()

    def _show_diff(self) -> None:
        version = self.selected_version()
        body = self.query_one("#versions-diff-text", Static)
        frame = self.query_one("#versions-diff", VerticalScroll)
        if version is None:
            frame.border_title, content = "diff", Text("no versions", style="dim")
        elif self.diff is None:
            frame.border_title = f"v{version}"
            content = Text(f"v{version} is the first version: nothing before it", style="dim")
        else:
            frame.border_title = f"{self.diff.old_label} → {self.diff.new_label}"
            content = (
                diff_text(self.diff)
                if self.diff.lines
                else Text("no differences: the same definition", style="dim")
            )
        body.update(content)
        frame.scroll_home(animate=False)

    def _show_status(self) -> None:
        count = len(self.versions)
        other = "previous" if self.base == "current" else "current"
        self.query_one("#versions-status", Static).update(
            Text.assemble(
                safe_text(self.workflow, style="bold", max_length=60),
                f" · {count} version{'' if count == 1 else 's'} · diff vs {self.base}"
                f" (p: vs {other})",
            )
        )

    def action_toggle_base(self) -> None:
        """Diff against the current definition, or against the version before."""
        self.base = "previous" if self.base == "current" else "current"
        self._show_status()
        self._load_diff()

    def action_back(self) -> None:
        """From the diff back to the list; from the list back to the workflows."""
        if self.focused is not self.table:
            self.table.focus()
        else:
            self.dismiss(None)

    def action_roll_back(self) -> None:
        """Ask, then save the highlighted version's definition as a new version."""
        version = self.selected_version()
        if version is None:
            return
        question = Text.assemble(
            "Roll back ", safe_text(self.workflow, style="bold", max_length=120),
            f" to version {version}?\n",
            f"Version {version}'s definition is saved as a new version; every version stays "
            "in the history and the enabled switch is kept.",
        )  # fmt: skip

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._roll_back(version)

        self.app.push_screen(ConfirmScreen("Roll back", question, yes="roll back"), answered)

    @work(thread=True, exit_on_error=False, group=CHANGE_GROUP)
    def _roll_back(self, version: int) -> None:
        try:
            result = self.backend.roll_back_workflow(
                self.workflow, version, actor=self.console.operator
            )
        except (PermissionDenied, LookupError, DefinitionError) as exc:
            self.post_message(self.RolledBack(clean(exc), failed=True))
            return
        if result.outcome == "unchanged":
            note = f"v{version} is already the current definition: nothing saved"
        else:
            note = f"{result.name}: v{version} restored as version {result.version}"
        self.post_message(self.RolledBack(clean(note), failed=False))

    def on_workflow_versions_screen_rolled_back(self, message: RolledBack) -> None:
        """Say what happened and show the history as it is now."""
        self.notify(message.note, severity="error" if message.failed else "information",
                    markup=False)  # fmt: skip
        self.reload()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report a load or roll-back that failed; what is on screen stays."""
        if event.state == WorkerState.ERROR and event.worker.group in (
            LOAD_GROUP, DIFF_GROUP, CHANGE_GROUP,
        ):  # fmt: skip
            self.notify(clean(f"failed: {event.worker.error}"), severity="error", markup=False)
