"""The replay dialog (``R`` on an execution): from which step, on which definition, with
which trigger data patches; the engine's dry run shows what would be copied and sent, and
``ctrl+r`` creates the replay.

``ReplayScreen`` is a ``ModalScreen[str | None]``: it dismisses with the new execution's id,
or None when nothing was created. Every change of the options plans again (in a worker);
the replay is made only with the options of the preview on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Select, Static, TextArea
from textual.worker import Worker, WorkerState

from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.host import console_host
from wfconsole.console.views.replay_text import plan_text
from wfconsole.console.widgets.safe_text import clean, safe_text

if TYPE_CHECKING:
    from engine.services.replay import ReplayPlan

PREVIEW_GROUP = "replay-preview"
APPLY_GROUP = "replay-apply"
DEBOUNCE = 0.3
VERSIONS = [("original definition", "original"), ("latest definition", "latest")]


@dataclass(frozen=True)
class ReplayOptions:
    """What the operator chose; None ``from_step`` is the step the run failed at."""

    from_step: int | None
    version: str
    patches: tuple[str, ...]


class ReplayScreen(ModalScreen[str | None]):
    """Preview, then create, a replay of one execution."""

    AUTO_FOCUS = "#replay-step"
    BINDINGS = [
        Binding("ctrl+r", "replay", "Replay"),
        Binding("escape", "cancel", "Cancel"),
    ]

    @dataclass
    class Planned(Message):
        """The dry run for ``options`` arrived."""

        options: ReplayOptions
        plan: ReplayPlan

    @dataclass
    class Refused(Message):
        """The options cannot be replayed (or planned): ``reason`` says why."""

        options: ReplayOptions
        reason: str

    def __init__(self, backend: ConsoleBackend, execution_id: str, *, actor: str) -> None:
        super().__init__()
        self.backend = backend
        self.execution_id = execution_id
        self.actor = actor
        self.plan: ReplayPlan | None = None
        """The plan on screen, for ``planned_for``."""
        self.planned_for: ReplayOptions | None = None
        self.planning_for: ReplayOptions | None = None
        """The options of the dry run under way (None when none is)."""
        self.busy = False

    def compose(self) -> ComposeResult:
        """The run, the options, the preview, the error line and the buttons."""
        with Vertical(id="replay-box") as box:
            box.border_title = "Replay"
            yield Static(
                Text.assemble("Replay ", safe_text(self.execution_id, style="bold"),
                              " as a new execution linked to it"),
                id="replay-title",
            )  # fmt: skip
            with Horizontal(id="replay-options"):
                yield Static("from step", classes="replay-label")
                yield Input(placeholder="failed", type="integer", id="replay-step", compact=True)
                yield Static("version", classes="replay-label")
                yield Select(
                    VERSIONS, value="original", allow_blank=False, id="replay-version",
                    compact=True,
                )  # fmt: skip
            yield Static("trigger data patches, PATH=VALUE one a line:", classes="replay-label")
            yield TextArea(id="replay-patches", tab_behavior="focus", compact=True)
            with VerticalScroll(id="replay-preview"):
                yield Static(Text("planning…"), id="replay-plan")
            yield Static(id="replay-error")
            with Horizontal(id="replay-buttons"):
                yield Button("Replay (ctrl+r)", id="replay-confirm", variant="warning")
                yield Button("Cancel (esc)", id="replay-cancel")

    def on_mount(self) -> None:
        """Plan with the defaults: the failed step, the original definition."""
        self._plan(self.options())

    def options(self) -> ReplayOptions:
        """The options as typed now."""
        step = self.query_one("#replay-step", Input).value.strip()
        version = self.query_one("#replay-version", Select).value
        lines = self.query_one("#replay-patches", TextArea).text.splitlines()
        return ReplayOptions(
            from_step=int(step) if step.lstrip("-").isdigit() else None,
            version=str(version),
            patches=tuple(line.strip() for line in lines if line.strip()),
        )

    # --- planning ------------------------------------------------------------------------

    def _options_changed(self) -> None:
        self.set_timer(DEBOUNCE, self._plan_if_still_changed)

    def _plan_if_still_changed(self) -> None:
        """Plan the options on screen unless they are planned or being planned: a field's
        change event at mount would otherwise cancel the first dry run for the same
        options (a preview is confirmed only when ``planned_for`` equals the options)."""
        options = self.options()
        if options not in (self.planned_for, self.planning_for):
            self._plan(options)

    def on_input_changed(self, _event: Input.Changed) -> None:
        """A new step: plan again once typing pauses."""
        self._options_changed()

    def on_select_changed(self, _event: Select.Changed) -> None:
        """Another definition: plan again."""
        self._options_changed()

    def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        """Other patches: plan again once typing pauses."""
        self._options_changed()

    def _plan(self, options: ReplayOptions) -> None:
        self.planning_for = options
        self.query_one("#replay-plan", Static).update(Text("planning…"))
        self._dry_run(options)

    @work(thread=True, exclusive=True, exit_on_error=False, group=PREVIEW_GROUP)
    def _dry_run(self, options: ReplayOptions) -> None:
        try:
            [plan] = self.backend.replay_executions(
                [self.execution_id], from_step=options.from_step, version=options.version,
                patches=options.patches, dry_run=True, actor=self.actor,
            )  # fmt: skip
        except Exception as exc:  # a refusal, a denial or a lost database: all are told
            self.post_message(self.Refused(options, _reason(exc)))
            return
        self.post_message(self.Planned(options, plan))

    def on_replay_screen_planned(self, message: Planned) -> None:
        """Show the preview if it is still for the options on screen."""
        if message.options == self.planning_for:
            self.planning_for = None
        if message.options != self.options():
            return
        self.plan, self.planned_for = message.plan, message.options
        self.query_one("#replay-plan", Static).update(plan_text(message.plan))
        step = self.query_one("#replay-step", Input)
        if not step.value.strip():
            step.placeholder = f"{message.plan.from_step} (failed)"
        self._show_error("the workflow is disabled" if message.plan.disabled else None)

    def on_replay_screen_refused(self, message: Refused) -> None:
        """Say why these options cannot be replayed."""
        if message.options == self.planning_for:
            self.planning_for = None
        if message.options != self.options():
            return
        self.plan, self.planned_for = None, None
        self.query_one("#replay-plan", Static).update(Text("nothing to preview"))
        self._show_error(message.reason)

    # --- replaying -----------------------------------------------------------------------

    def action_replay(self) -> None:
        """Create the replay shown in the preview (nothing while it is out of date)."""
        if self.busy:
            return
        options = self.options()
        if self.plan is None or self.planned_for != options or self.plan.disabled:
            self._show_error("wait for a preview of these options (or fix what it says)")
            return
        self.busy = True
        self._replay(options)

    @work(thread=True, exclusive=True, exit_on_error=False, group=APPLY_GROUP)
    def _replay(self, options: ReplayOptions) -> None:
        [plan] = self.backend.replay_executions(
            [self.execution_id], from_step=options.from_step, version=options.version,
            patches=options.patches, actor=self.actor,
        )  # fmt: skip
        self.app.call_from_thread(self.dismiss, plan.new_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A refused replay is told in the dialog, which stays open."""
        if event.worker.group == APPLY_GROUP and event.state == WorkerState.ERROR:
            self.busy = False
            self._show_error(_reason(event.worker.error))

    def action_cancel(self) -> None:
        """Close without creating anything."""
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The buttons do what their keys do."""
        event.stop()
        if event.button.id == "replay-confirm":
            self.action_replay()
        else:
            self.action_cancel()

    def _show_error(self, message: str | None) -> None:
        error = self.query_one("#replay-error", Static)
        error.update(safe_text(message, style="bold red", multiline=True) if message else "")
        error.set_class(message is not None, "-shown")


def _reason(error: BaseException | None) -> str:
    """An engine refusal as its own message; anything else says it could not be done."""
    from engine.access.roles import PermissionDenied
    from engine.services.executions import ExecutionNotFound
    from engine.services.replay import ReplayRefused
    from engine.triggers.new_executions import WorkflowDisabled

    if isinstance(error, ReplayRefused | PermissionDenied | ExecutionNotFound | WorkflowDisabled):
        return clean(error)
    return clean(f"could not replay: {error}")


def open_replay(
    screen: Screen[Any],
    backend: ConsoleBackend,
    execution_id: str,
    *,
    on_created: Callable[[], object] | None = None,
) -> None:
    """Push the replay dialog for ``execution_id``; say the new id when one was created."""

    def created(new_id: str | None) -> None:
        if new_id is None:
            return
        screen.notify(f"replay created: {new_id} (replay of {execution_id})", markup=False)
        if on_created is not None:
            on_created()

    actor = console_host(screen).operator
    screen.app.push_screen(ReplayScreen(backend, execution_id, actor=actor), created)
