"""One execution in words: identity, status and timings, its steps, its log lines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.text import Text

from wfconsole.console.views.display import STATUS_STYLES, duration, full_time, status_text
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.executions import ExecutionDetail

LEVEL_STYLES = {"DEBUG": "dim", "INFO": "", "WARNING": "yellow", "ERROR": "bold red"}


def json_text(value: Any) -> str:
    """A JSON value indented, keys sorted, anything else as its string."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _field(label: str, value: Text | str) -> Text:
    return Text.assemble((f"{label:<12}", "bold"), value, "\n")


def summary_text(detail: ExecutionDetail) -> Text:
    """Identity, status, timings and retries."""
    row = detail.row
    text = Text()
    text.append_text(_field("execution", safe_text(row.id)))
    text.append_text(_field("workflow", safe_text(row.workflow)))
    status = status_text(row.status)
    if row.waiting:
        status.append(f" · waiting: {row.waiting}", style="yellow")
    text.append_text(_field("status", status))
    text.append_text(_field("trigger", safe_text(row.trigger_type)))
    text.append_text(_field("created", full_time(row.created_at)))
    text.append_text(_field("started", full_time(row.started_at)))
    text.append_text(_field("completed", full_time(row.completed_at)))
    text.append_text(_field("duration", duration(row.duration_ms)))
    text.append_text(_field("retries", str(row.retry_count)))
    text.append_text(_field("available", full_time(detail.available_at)))
    text.append_text(_field("worker", safe_text(detail.worker_id or "-")))
    if row.error:
        text.append_text(_field("error", safe_text(row.error, style="red", multiline=True)))
    text.rstrip()
    return text


def steps_text(detail: ExecutionDetail) -> Text:
    """One line per finished step, its error indented below it."""
    if not detail.steps:
        return Text("no finished steps", style="dim")
    text = Text()
    for step in detail.steps:
        action = safe_text(step.action_type, max_length=16)
        text.append(f"#{step.step_index:<3}")
        text.append_text(action)
        text.append(" " * (17 - action.cell_len))
        text.append(f"{step.status:<9}", style=STATUS_STYLES.get(step.status, ""))
        text.append(f" {duration(step.duration_ms):>8}  attempt {step.attempt}\n")
        if step.error:
            text.append("     ")
            text.append_text(safe_text(step.error, style="red", multiline=True))
            text.append("\n")
    text.rstrip()
    return text


def logs_text(detail: ExecutionDetail) -> Text:
    """The log lines with time, level and step."""
    if not detail.logs:
        return Text("no log lines", style="dim")
    text = Text()
    for line in detail.logs:
        text.append(full_time(line.timestamp)[11:23] + " ", style="dim")
        text.append(f"{line.level:<7} ", style=LEVEL_STYLES.get(line.level, ""))
        text.append("" if line.step_index is None else f"#{line.step_index} ")
        text.append_text(safe_text(line.message, multiline=True))
        if line.data:
            text.append(" ")
            text.append_text(safe_text(json.dumps(line.data, default=str), style="dim"))
        text.append("\n")
    text.rstrip()
    return text
