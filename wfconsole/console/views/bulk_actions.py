"""Retry or cancel a set of executions: preview the blast radius, confirm, apply, report.

A screen composes one ``BulkActions`` (it draws nothing) and calls ``start(action, ids)``;
the preview and the change run in thread workers, the confirmation is the dialog the
screen hands in (``BlastRadiusScreen``: views never import screens), and the screen hears
``BulkActions.Applied`` when it is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.views.blast_radius_text import plural
from wfconsole.console.widgets.safe_text import clean

if TYPE_CHECKING:
    from engine.services.blast_radius import BlastRadius, BulkAction

GROUP = "bulk-actions"
Confirmation = Callable[["BlastRadius"], Screen[bool]]
"""Builds the dialog that shows a blast radius and dismisses with the operator's answer."""


class BulkActions(Widget):
    """Drives one bulk action at a time from preview to outcome."""

    DEFAULT_CSS = "BulkActions { display: none; }"
    HELP_GROUP: ClassVar[str] = "Bulk"

    @dataclass
    class Previewed(Message):
        """The blast radius arrived; ask the operator."""

        radius: BlastRadius
        actor: str

    @dataclass
    class Applied(Message):
        """The change was made; ``changed`` are the executions it changed."""

        action: BulkAction
        changed: list[str]
        summary: str

    def __init__(
        self, backend: ConsoleBackend, *, confirm: Confirmation, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.backend = backend
        self.confirm = confirm
        self.busy = False

    def start(self, action: BulkAction, ids: Sequence[str], *, actor: str) -> None:
        """Preview ``action`` on ``ids``; the dialog follows when the preview arrives."""
        if self.busy or not ids:
            return
        self.busy = True
        self._preview(action, list(ids), actor)

    @work(thread=True, exclusive=True, exit_on_error=False, group=GROUP)
    def _preview(self, action: BulkAction, ids: list[str], actor: str) -> None:
        preview = self.backend.preview_retry if action == "retry" else self.backend.preview_cancel
        self.post_message(self.Previewed(preview(ids), actor))

    def on_bulk_actions_previewed(self, message: Previewed) -> None:
        """Show the blast radius and wait for the answer."""
        message.stop()

        def answered(confirmed: bool | None) -> None:
            if confirmed and message.radius.changes:
                self._apply(message.radius, message.actor)
            else:
                self.busy = False

        self.app.push_screen(self.confirm(message.radius), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group=GROUP)
    def _apply(self, radius: BlastRadius, actor: str) -> None:
        ids = list(radius.ids)
        if radius.action == "retry":
            changed = self.backend.retry_executions(ids, actor=actor)
            summary = f"{plural(len(changed), 'execution')} back to PENDING"
        else:
            results = self.backend.cancel_executions(ids, actor=actor)
            changed = [r.id for r in results if not r.outcome.startswith("already")]
            stopped = sum(r.outcome == "cancel requested" for r in results)
            summary = f"{plural(len(changed), 'execution')} cancelled"
            if stopped:
                summary += f" ({stopped:,} stop after their current step)"
        missed = len(ids) - len(changed)
        if missed:
            summary += f"; {missed:,} had changed meanwhile and were left alone"
        self.post_message(self.Applied(radius.action, changed, summary))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed preview or change is told literally and frees the widget."""
        if event.worker.group != GROUP:
            return
        if event.state == WorkerState.ERROR:
            self.busy = False
            self.notify(clean(f"could not do that: {event.worker.error}"), severity="error",
                        markup=False)  # fmt: skip
        elif event.state == WorkerState.SUCCESS and event.worker.name == "_apply":
            self.busy = False
