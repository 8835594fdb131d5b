"""The pause dialog: pause a running workflow (for a while), or resume a paused one.

``PauseWorkflowScreen(summary)`` is a ``ModalScreen``. For a workflow that runs it asks
for an optional DURATION and dismisses with a ``PauseRequest``; for a paused one it says
since when and by whom, how many runs are held and what each catch-up policy would do to
them, and dismisses with a ``ResumeRequest`` for the policy chosen (``spread`` takes its
DURATION from the field below the list). ``escape`` dismisses with None. Durations and
policies are checked here with the engine's parsers: a bad one is said in red and the
dialog stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from engine.services.flow_control import FlowControlError, duration_argument, parse_catch_up
from wfconsole.console.views.flow_text import pause_state_text, policy_label
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.flow_control import HeldSummary

POLICY_ORDER = ("all", "latest", "skip", "spread")


@dataclass(frozen=True)
class PauseRequest:
    """Pause; ``for_`` is the DURATION text after which it resumes by itself (or None)."""

    for_: str | None


@dataclass(frozen=True)
class ResumeRequest:
    """Resume with ``catch_up`` (``all``, ``latest``, ``skip``, ``spread:DURATION``)."""

    catch_up: str


class PauseWorkflowScreen(ModalScreen[PauseRequest | ResumeRequest | None]):
    """Pause or resume one workflow; what happens to the held runs is said first."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, summary: HeldSummary) -> None:
        super().__init__()
        self.summary = summary

    @property
    def paused(self) -> bool:
        """Whether the dialog resumes (the workflow is paused) or pauses."""
        return self.summary.paused

    def compose(self) -> ComposeResult:
        """The state, then the duration field (pause) or the policies (resume)."""
        name = safe_text(self.summary.workflow, style="bold", max_length=60)
        with Vertical(id="pause-box") as box:
            box.border_title = "Resume" if self.paused else "Pause"
            if self.paused:
                yield Static(Text.assemble("Resume ", name), id="pause-title")
                yield Static(pause_state_text(self.summary), id="pause-state")
                yield OptionList(
                    *(Option(policy_label(self.summary, p), id=p) for p in POLICY_ORDER),
                    id="pause-policies",
                )
                yield Input(placeholder="spread over: 10m, 1h…", id="pause-spread")
            else:
                yield Static(Text.assemble("Pause ", name), id="pause-title")
                yield Static(
                    "Triggers are still accepted: their runs are held PENDING and nothing "
                    "starts until it is resumed. Runs already running finish.",
                    id="pause-state",
                )
                yield Input(placeholder="for: 30s, 10m, 1h, 2d (empty: until resumed)",
                            id="pause-for")  # fmt: skip
            yield Static(id="pause-error")
            with Horizontal(id="pause-buttons"):
                label = "Resume (enter)" if self.paused else "Pause (enter)"
                yield Button(label, id="pause-confirm", variant="warning")
                yield Button("Cancel (esc)", id="pause-cancel")

    def on_mount(self) -> None:
        """The policy list (resume) or the duration (pause) has the focus."""
        self.query_one("#pause-policies" if self.paused else "#pause-for").focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """``enter`` on a policy resumes with it (``spread`` asks for its duration)."""
        event.stop()
        self._resume(event.option.id or "all")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in the field: pause for that long, or spread over that long."""
        event.stop()
        if self.paused:
            self._resume("spread")
        else:
            self._pause()

    def on_input_changed(self, _event: Input.Changed) -> None:
        """A new edit makes the last error stale."""
        self._show_error(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Confirm does what ``enter`` does; cancel closes."""
        event.stop()
        if event.button.id == "pause-cancel":
            self.dismiss(None)
        elif self.paused:
            policies = self.query_one("#pause-policies", OptionList)
            highlighted = policies.highlighted
            self._resume(POLICY_ORDER[highlighted] if highlighted is not None else "all")
        else:
            self._pause()

    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)

    def _pause(self) -> None:
        text = self.query_one("#pause-for", Input).value.strip() or None
        try:
            duration_argument(text, "for")
        except FlowControlError as exc:
            self._show_error(str(exc))
            return
        self.dismiss(PauseRequest(text))

    def _resume(self, policy: str) -> None:
        if policy == "spread":
            spread = self.query_one("#pause-spread", Input)
            if not spread.value.strip():
                self._show_error("spread: type the duration to spread over (e.g. 10m), then enter")
                spread.focus()
                return
            policy = f"spread:{spread.value.strip()}"
        try:
            chosen = parse_catch_up(policy)
        except FlowControlError as exc:
            self._show_error(str(exc))
            return
        self.dismiss(ResumeRequest(chosen.text))

    def _show_error(self, message: str | None) -> None:
        error = self.query_one("#pause-error", Static)
        error.update(safe_text(message, style="bold red", multiline=True) if message else "")
        error.set_class(message is not None, "-shown")
