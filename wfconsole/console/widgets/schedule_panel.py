"""The next fire times of a workflow's schedule triggers, in their time zone and in UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.widgets import Static

from engine.services.workflow_admin import SchedulePreview
from wfconsole.widgets.safe_text import safe_text


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

    def show_previews(self, previews: Sequence[SchedulePreview]) -> None:
        """Show these previews, or hide the panel when there are none."""
        self.update(schedule_text(previews))
        self.set_class(bool(previews), "-shown")
