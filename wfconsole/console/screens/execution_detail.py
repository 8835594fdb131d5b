"""One execution in full: status, timings, retries, trigger data, steps and log lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from engine.services.executions import ExecutionDetail, ExecutionNotFound
from wfconsole.backend import ConsoleBackend
from wfconsole.display import STATUS_STYLES, duration, full_time, status_text
from wfconsole.widgets.console_footer import ConsoleFooter
from wfconsole.widgets.safe_text import clean, safe_text

LOAD_GROUP = "execution-detail-load"
LEVEL_STYLES = {"DEBUG": "dim", "INFO": "", "WARNING": "yellow", "ERROR": "bold red"}


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _field(label: str, value: Text | str) -> Text:
    return Text.assemble((f"{label:<12}", "bold"), value, "\n")


def summary_text(detail: ExecutionDetail) -> Text:
    """Identity, status, timings and retries."""
    row = detail.row
    text = Text()
    text.append_text(_field("execution", safe_text(row.id)))
    text.append_text(_field("workflow", safe_text(row.workflow)))
    text.append_text(_field("status", status_text(row.status)))
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


class ExecutionDetailScreen(Screen[None]):
    """Everything stored about one execution; ``escape`` goes back to the list."""

    TITLE = "wfconsole · execution"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    @dataclass
    class DetailLoaded(Message):
        """The execution arrived from the backend."""

        detail: ExecutionDetail

    def __init__(self, backend: ConsoleBackend, execution_id: str) -> None:
        super().__init__()
        self.backend = backend
        self.execution_id = execution_id
        self.detail: ExecutionDetail | None = None

    def compose(self) -> ComposeResult:
        """Header, the sections in one scrolling column, footer."""
        yield Header()
        with VerticalScroll(id="detail-body"):
            yield Static(Text(f"loading {clean(self.execution_id)}…"), id="detail-summary")
            yield Static("Trigger data", classes="detail-heading")
            yield Static(id="detail-trigger")
            yield Static("Result", classes="detail-heading")
            yield Static(id="detail-result")
            yield Static("Steps", classes="detail-heading")
            yield Static(id="detail-steps")
            yield Static("Log", classes="detail-heading")
            yield Static(id="detail-logs")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Load the execution."""
        self.query_one("#detail-body").focus()
        self.reload()

    def reload(self) -> None:
        """Fetch the execution again (in a worker)."""
        self._fetch_detail()

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch_detail(self) -> None:
        self.post_message(self.DetailLoaded(self.backend.get_execution(self.execution_id)))

    def on_execution_detail_screen_detail_loaded(self, message: DetailLoaded) -> None:
        """Fill every section."""
        detail = self.detail = message.detail
        self.query_one("#detail-summary", Static).update(summary_text(detail))
        self.query_one("#detail-trigger", Static).update(
            safe_text(_json(detail.trigger_data), multiline=True)
        )
        result = "-" if detail.result is None else _json(detail.result)
        self.query_one("#detail-result", Static).update(safe_text(result, multiline=True))
        self.query_one("#detail-steps", Static).update(steps_text(detail))
        self.query_one("#detail-logs", Static).update(logs_text(detail))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Say what went wrong when the execution cannot be loaded."""
        if event.worker.group != LOAD_GROUP or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        reason = str(error) if isinstance(error, ExecutionNotFound) else f"cannot load: {error}"
        self.query_one("#detail-summary", Static).update(safe_text(reason, style="red"))
