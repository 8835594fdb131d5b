"""The next fire times of a workflow's schedule triggers, in their time zone and in UTC.

The panel reads them itself (a thread worker over the backend) for the workflow the list
highlights, and drops a preview that arrives after the highlight moved on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Static

from engine.services.workflow_admin import SchedulePreview
from engine.services.workflows import WorkflowSummary
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.widgets.safe_text import safe_text


def now() -> datetime:
    """The clock the preview counts from (tests pin it)."""
    return datetime.now(UTC)


def schedule_text(previews: Sequence[SchedulePreview]) -> Text:
    """One block per schedule trigger: its cron line, then each fire time on a line."""
    text = Text()
    for number, preview in enumerate(previews):
        if number:
            text.append("\n")
        text.append("cron ", style="bold")
        text.append_text(safe_text(preview.cron, style="bold", max_length=40))
        text.append("  ")
        text.append_text(safe_text(preview.timezone, style="dim", max_length=32))
        if not preview.fire_times:
            text.append("  · never fires again", style="dim")
            continue
        text.append(f"  · next {len(preview.fire_times)} fire times", style="dim")
        zone = ZoneInfo(preview.timezone)
        for moment in preview.fire_times:
            local = moment.astimezone(zone)
            text.append("\n  ")
            text.append(local.strftime("%a %Y-%m-%d %H:%M %Z"))
            if local.utcoffset() != moment.astimezone(UTC).utcoffset():
                text.append(moment.astimezone(UTC).strftime("   %H:%M UTC"), style="dim")
    return text


class SchedulePanel(Static):
    """Shown under the workflow list while the highlighted workflow has a schedule."""

    DEFAULT_CSS = """
    SchedulePanel {
        display: none;
        height: auto;
        max-height: 12;
        padding: 0 1;
        border-top: solid $primary-darken-2;
    }
    SchedulePanel.-shown {
        display: block;
    }
    """

    @dataclass
    class Loaded(Message):
        """The schedule preview of one workflow arrived."""

        workflow_id: str
        previews: list[SchedulePreview]

    def __init__(self, backend: ConsoleBackend, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.backend = backend
        self.workflow_id: str | None = None
        """The workflow whose schedule is shown (or on its way), if any."""

    def show_workflow(self, workflow: WorkflowSummary | None) -> None:
        """Show ``workflow``'s schedule; hide the panel when it has none."""
        if workflow is None or "schedule" not in workflow.trigger_types:
            self.workflow_id = None
            self.show_previews([])
            return
        self.workflow_id = workflow.id
        self._fetch(workflow.id, workflow.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="schedule-preview")
    def _fetch(self, workflow_id: str, name: str) -> None:
        previews = self.backend.workflow_schedules(name, after=now())
        self.post_message(self.Loaded(workflow_id, previews))

    def on_schedule_panel_loaded(self, message: Loaded) -> None:
        """Show the preview if its workflow is still the one asked for."""
        message.stop()
        if message.workflow_id == self.workflow_id:
            self.show_previews(message.previews)

    def show_previews(self, previews: Sequence[SchedulePreview]) -> None:
        """Show these previews, or hide the panel when there are none."""
        self.update(schedule_text(previews))
        self.set_class(bool(previews), "-shown")
