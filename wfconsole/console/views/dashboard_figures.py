"""The dashboard's figures: the queue-depth tiles and the last day's line."""

from __future__ import annotations

from rich.text import Text

from engine.services.dashboard import DashboardMetrics
from wfconsole.console.views.display import duration, percent

DEPTH_TILES = (
    ("queued", "queued"),
    ("scheduled", "scheduled"),
    ("running", "running"),
    ("pending", "pending in DB"),
)


def depth_figures(metrics: DashboardMetrics) -> dict[str, str]:
    """The queue-depth tiles' figures by key; ``-`` when the queue did not answer."""
    messages = metrics.messages
    return {
        "queued": "-" if messages is None else str(messages.queued),
        "scheduled": "-" if messages is None else str(messages.scheduled),
        "running": str(metrics.active.running),
        "pending": str(metrics.active.pending),
    }


def day_line(metrics: DashboardMetrics) -> Text:
    """The last 24 hours and the workers, on one line."""
    day = metrics.last_day
    alive = metrics.workers_alive
    gone = len(metrics.workers) - alive
    workers = Text(f"{alive} alive", style="green" if alive else "bold red")
    if gone:
        workers.append(f" · {gone} gone", style="dim")
    return Text.assemble(
        ("24 h ", "bold"),
        "success ",
        percent(day.success_rate),
        f" · avg {duration(day.avg_duration_ms)} · finished {day.finished:,}",
        " · failed ",
        (f"{day.failed:,}", "red" if day.failed else ""),
        ("   workers ", "bold"),
        workers,
    )
