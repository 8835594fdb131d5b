"""Two runs side by side: ``=`` on an execution compares it with the last success of its
workflow; ``tab`` picks another run to compare with.

The comparison is the engine's (``engine.services.run_diff``); this screen only shows it:
both runs, the trigger paths that differ with both values, whether the definitions
differ, one row per step, and the first difference with its values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.run_picker import RunPickerScreen
from wfconsole.console.views.run_diff_text import diff_view, nothing_to_compare
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.safe_text import clean, safe_text

if TYPE_CHECKING:
    from engine.services.run_diff import RunDiff

LOAD_GROUP = "run-diff-load"


class RunDiffScreen(Screen[None]):
    """One execution (left) beside another (right): the last success unless one was picked."""

    TITLE = "wfconsole · run diff"
    AUTO_FOCUS = "#diff-body"
    BINDINGS = [
        Binding("tab", "pick_other", "Compare with…", key_display="tab"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    @dataclass
    class DiffLoaded(Message):
        """The comparison with ``against`` (None: the last success) arrived."""

        against: str | None
        diff: RunDiff

    @dataclass
    class Unavailable(Message):
        """There is nothing to compare with (or no such run): ``reason`` says which."""

        against: str | None
        reason: str

    def __init__(
        self,
        backend: ConsoleBackend,
        execution_id: str,
        *,
        workflow: str,
        against: str | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.execution_id = execution_id
        self.workflow = workflow
        self.against = against
        """The run picked to compare with; None compares with the last success."""
        self.diff: RunDiff | None = None

    def compose(self) -> ComposeResult:
        """Header, what is compared with what, the comparison, footer."""
        yield ConsoleHeader()
        yield Static(id="diff-status")
        with VerticalScroll(id="diff-body"):
            yield Static(Text(f"comparing {clean(self.execution_id)}…"), id="diff-content")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Load the comparison."""
        self._show_status()
        self.reload()

    def reload(self) -> None:
        """Compare again (in a worker)."""
        self._fetch(self.against)

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch(self, against: str | None) -> None:
        from engine.services.executions import ExecutionNotFound
        from engine.services.run_diff import NothingToCompare

        try:
            diff = self.backend.diff_executions(self.execution_id, against)
        except (NothingToCompare, ExecutionNotFound) as exc:
            self.post_message(self.Unavailable(against, str(exc)))
        else:
            self.post_message(self.DiffLoaded(against, diff))

    def on_run_diff_screen_diff_loaded(self, message: DiffLoaded) -> None:
        """Show the comparison, if it is still the one asked for."""
        if message.against != self.against:
            return
        self.diff = message.diff
        self._show(diff_view(message.diff))

    def on_run_diff_screen_unavailable(self, message: Unavailable) -> None:
        """Say why there is nothing to show, and how to pick a run instead."""
        if message.against != self.against:
            return
        self.diff = None
        self._show(nothing_to_compare(message.reason, self.workflow))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A comparison that failed otherwise (the database is down) says so in place."""
        if event.worker.group == LOAD_GROUP and event.state == WorkerState.ERROR:
            self.diff = None
            self._show(safe_text(f"cannot compare: {event.worker.error}", style="red"))

    def _show(self, content: RenderableType) -> None:
        self.query_one("#diff-content", Static).update(content)
        self.query_one("#diff-body", VerticalScroll).scroll_home(animate=False)
        self._show_status()

    def _show_status(self) -> None:
        right = "the last success" if self.against is None else "a picked run"
        self.query_one("#diff-status", Static).update(
            Text.assemble(
                safe_text(self.workflow, style="bold", max_length=40),
                f" · left: this run · right: {right}",
            )
        )

    def action_pick_other(self) -> None:
        """Choose the run to compare with from the workflow's recent runs."""
        current = self.diff.right.id if self.diff is not None else self.against

        def picked(execution_id: str | None) -> None:
            if execution_id is not None and execution_id != self.against:
                self.against = execution_id
                self.diff = None
                self._show(Text(f"comparing with {clean(execution_id)}…"))
                self.reload()

        self.app.push_screen(
            RunPickerScreen(
                self.backend, self.workflow, exclude=self.execution_id, current=current
            ),
            picked,
        )
