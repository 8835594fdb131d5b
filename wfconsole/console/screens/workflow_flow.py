"""The workflows screen's flow control: ``p`` pause/resume and ``L`` limits.

The workflows screen composes one ``WorkflowFlow`` (it draws nothing) and calls
``pause_or_resume(name, actor)`` or ``limits(name, actor)``. It reads the workflow's
state in a worker, opens the dialog, and makes the change in a worker; a resume that
starts or cancels runs shows what it will do in the blast-radius dialog first. What
happened comes back to the screen as ``workflow_changes.ChangeDone`` (it notifies and
reloads).
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from engine.services.flow_control import HeldSummary
from engine.services.flow_limits import LimitState
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.blast_radius import BlastRadiusScreen
from wfconsole.console.screens.pause_workflow import (
    PauseRequest,
    PauseWorkflowScreen,
    ResumeRequest,
)
from wfconsole.console.screens.workflow_limits import LimitRequest, WorkflowLimitsScreen
from wfconsole.console.views import workflow_changes as changes
from wfconsole.console.views.blast_radius_text import plural
from wfconsole.console.views.flow_preview import ChangePreview, resume_preview
from wfconsole.console.widgets.safe_text import clean

GROUP = "workflow-flow"
CHANGE_GROUP = "workflow-flow-change"


class WorkflowFlow(Widget):
    """Drives a pause, a resume or a limit change from the dialog to its outcome."""

    DEFAULT_CSS = "WorkflowFlow { display: none; }"
    HELP_GROUP: ClassVar[str] = "Flow control"

    def __init__(self, backend: ConsoleBackend, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.backend = backend

    # --- pause / resume ------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group=GROUP)
    def pause_or_resume(self, name: str, actor: str) -> None:
        """Read the pause state and open the dialog."""
        summary = self.backend.held_summary(name)
        self.app.call_from_thread(self._ask_pause, summary, actor)

    def _ask_pause(self, summary: HeldSummary, actor: str) -> None:
        def answered(request: PauseRequest | ResumeRequest | None) -> None:
            if isinstance(request, PauseRequest):
                self._change(lambda: self._pause(summary.workflow, request, actor))
            elif isinstance(request, ResumeRequest):
                self._preview_resume(summary.workflow, request.catch_up, actor)

        self.app.push_screen(PauseWorkflowScreen(summary), answered)

    def _pause(self, name: str, request: PauseRequest, actor: str) -> str:
        result = self.backend.pause_workflow(name, for_=request.for_, actor=actor)
        note = f"{result.workflow}: {'paused' if result.changed else 'still paused'}"
        if request.for_:
            note += f" for {request.for_} (then resumes, catch-up {result.catch_up})"
        return note + "; new runs are held"

    @work(thread=True, exclusive=True, exit_on_error=False, group=GROUP)
    def _preview_resume(self, name: str, catch_up: str, actor: str) -> None:
        summary = self.backend.held_summary(name)  # again: runs arrived while choosing
        actions = self.backend.workflow_document(name).get("actions") or []
        types = [str(a.get("type", "?")) for a in actions if isinstance(a, dict)]
        preview = resume_preview(summary, catch_up, types)
        self.app.call_from_thread(self._confirm_resume, preview, name, catch_up, actor)

    def _confirm_resume(self, preview: ChangePreview, name: str, catch_up: str, actor: str) -> None:
        def resume() -> str:
            result = self.backend.resume_workflow(name, catch_up=catch_up, actor=actor)
            if not result.was_paused:
                return f"{result.workflow}: was not paused"
            return (
                f"{result.workflow}: resumed ({result.catch_up}): "
                f"{plural(len(result.started), 'run')} started, {result.cancelled:,} cancelled"
            )

        if not preview.changes:  # nothing held: nothing to send, nothing to confirm
            self._change(resume)
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._change(resume)

        self.app.push_screen(BlastRadiusScreen(preview), answered)

    # --- limits --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group=GROUP)
    def limits(self, name: str, actor: str) -> None:
        """Read the limits and open the override dialog."""
        state = self.backend.workflow_limits(name)
        self.app.call_from_thread(self._ask_limits, state, actor)

    def _ask_limits(self, state: LimitState, actor: str) -> None:
        def answered(request: LimitRequest | None) -> None:
            if request is not None:
                self._change(lambda: self._set_limits(state.workflow, request, actor))

        self.app.push_screen(WorkflowLimitsScreen(state), answered)

    def _set_limits(self, name: str, request: LimitRequest, actor: str) -> str:
        if request.clear:
            state = self.backend.clear_workflow_limit(name, actor=actor)
            return f"{state.workflow}: override cleared; limits {_limits(state)}"
        state = self.backend.set_workflow_limit(
            name, concurrency=request.concurrency, rate=request.rate, for_=request.for_,
            actor=actor,
        )  # fmt: skip
        until = f" for {request.for_}" if request.for_ else " until cleared"
        return f"{state.workflow}: limits {_limits(state)}{until}"

    # --- the change ----------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group=CHANGE_GROUP)
    def _change(self, call: changes.Change) -> None:
        changes.run_change(call, self.screen.post_message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A read that failed (the workflow went, the database is down) is said."""
        if event.worker.group in (GROUP, CHANGE_GROUP) and event.state == WorkerState.ERROR:
            self.notify(clean(f"failed: {event.worker.error}"), severity="error", markup=False)


def _limits(state: LimitState) -> str:
    parts = []
    if state.concurrency is not None:
        parts.append(f"concurrency {state.concurrency}")
    if state.rate is not None:
        parts.append(f"rate {state.rate}")
    return ", ".join(parts) or "none"
