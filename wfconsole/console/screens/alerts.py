"""The alert history (``a`` on the dashboard): incidents newest first, open ones highlighted.

Read-only: incidents open and resolve by themselves (``wfconsole alerts check`` or the
workers' periodic check). The highlighted incident's whole message and how its
notification went show under the list. ``o`` shows only the open ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from engine.alerts.incidents import AlertRow
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.views.alert_rows import alert_cells, column_widths, delivery_line
from wfconsole.console.views.display import first_line, full_time
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.record_table import RecordTable
from wfconsole.console.widgets.safe_text import clean, safe_text

LOAD_GROUP = "alerts-load"
LIMIT = 200


class AlertsScreen(Screen[None]):
    """Every alert incident, newest first; the highlighted one in full below."""

    TITLE = "wfconsole · alerts"
    AUTO_FOCUS = "#alerts-table"
    CSS_PATH = "alerts.tcss"
    BINDINGS = [
        Binding("o", "toggle_open", "Open only"),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class Loaded(Message):
        """The history arrived."""

        alerts: list[AlertRow]

    @dataclass
    class Failed(Message):
        """Loading failed."""

        error: str

    def __init__(self, backend: ConsoleBackend) -> None:
        super().__init__()
        self.backend = backend
        self.open_only = False
        self.alerts: list[AlertRow] = []
        self.error: str | None = None
        self._widths = column_widths(80)

    def compose(self) -> ComposeResult:
        """Header, status line, the incidents, the highlighted one's detail, footer."""
        yield ConsoleHeader()
        yield Static("loading…", id="alerts-status")
        yield RecordTable(id="alerts-table")
        yield Static(id="alerts-detail")
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The incident list."""
        return self.query_one("#alerts-table", RecordTable)

    def on_mount(self) -> None:
        """Lay out the columns for the width and load the history."""
        self._layout(self.app.size.width)
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        """Fit the columns to the width."""
        if column_widths(event.size.width) != self._widths:
            self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        self._widths = column_widths(width)
        table = self.table
        table.clear(columns=True)
        for label, size in zip(
            ("opened", "state", "severity", "rule", "subject", "message"),
            self._widths,
            strict=True,
        ):
            table.add_column(label, width=size, key=label)
        self._fill()

    def reload(self) -> None:
        """Fetch the history again (in a worker)."""
        self._fetch(self.open_only)

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch(self, open_only: bool) -> None:
        try:
            alerts = self.backend.list_alerts(open_only=open_only, limit=LIMIT)
        except Exception as exc:  # shown in the status line
            self.post_message(self.Failed(clean(first_line(str(exc)) or type(exc).__name__)))
            return
        self.post_message(self.Loaded(alerts))

    def on_alerts_screen_loaded(self, message: Loaded) -> None:
        """Show the incidents."""
        self.alerts, self.error = message.alerts, None
        self._fill()

    def on_alerts_screen_failed(self, message: Failed) -> None:
        """Keep what is shown; say what failed."""
        self.error = message.error
        self._show_status()

    def _fill(self) -> None:
        table = self.table
        table.clear()
        for row in self.alerts:
            table.add_row(*alert_cells(row, self._widths), key=str(row.id))
        self._show_status()
        self._show_detail()

    def _show_status(self) -> None:
        opened = sum(1 for row in self.alerts if row.is_open)
        scope = "open incidents" if self.open_only else "incidents"
        text = Text(f"{len(self.alerts)} {scope} · {opened} open · o: ")
        text.append("all" if self.open_only else "open only")
        if self.error is not None:
            text.append(" · ")
            text.append_text(safe_text(f"load failed: {self.error}", style="bold red"))
        self.query_one("#alerts-status", Static).update(text)

    def _show_detail(self) -> None:
        detail = self.query_one("#alerts-detail", Static)
        row = self._highlighted()
        if row is None:
            detail.update(Text("no alerts", style="dim"))
            return
        when = f"opened {full_time(row.opened_at)}"
        if row.resolved_at is not None:
            when += f" · resolved {full_time(row.resolved_at)}"
        head = safe_text(f"#{row.id} {row.rule} · {row.subject}", style="bold")
        message = safe_text(row.message, multiline=True)
        detail.update(Text("\n").join([head, Text(when), message, delivery_line(row)]))

    def _highlighted(self) -> AlertRow | None:
        index = self.table.cursor_row
        return self.alerts[index] if 0 <= index < len(self.alerts) else None

    def on_record_table_row_highlighted(self, event: RecordTable.RowHighlighted) -> None:
        """Show the highlighted incident in full."""
        event.stop()
        self._show_detail()

    def action_toggle_open(self) -> None:
        """Show only open incidents, or all of them again."""
        self.open_only = not self.open_only
        self.reload()

    def action_back(self) -> None:
        """Back to the dashboard."""
        self.dismiss()
