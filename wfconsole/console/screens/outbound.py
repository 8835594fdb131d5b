"""The outbound section (``o``): every destination's calls, errors, latency and hold.

One row per destination called in the window (``t`` cycles 5m / 1h / 24h), held,
failing or waited for, busiest first: calls, error rate, p50/p95/p99 latency, 429s and
the last ``Retry-After``, the breaker's state, the hold and the runs waiting. Refreshed on
the console's interval while shown. ``h`` holds a destination (optionally for a while),
``u`` releases the highlighted one after the blast-radius dialog says what it will send;
both need OPERATOR and are audited by the engine.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission
from engine.services.destinations import WINDOWS, DestinationFigures
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.blast_radius import BlastRadiusScreen
from wfconsole.console.screens.hold_destination import HoldDestinationScreen, HoldRequest
from wfconsole.console.views import workflow_changes as changes
from wfconsole.console.views.blast_radius_text import plural
from wfconsole.console.views.destination_board import Column, cells, columns, detail_text
from wfconsole.console.views.flow_preview import release_preview
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.views.refresh_loop import RefreshLoop
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.record_table import RecordTable, RowDoesNotExist
from wfconsole.console.widgets.safe_text import clean

if TYPE_CHECKING:
    from wfconsole.console.views.flow_preview import ChangePreview

LOAD_GROUP = "outbound-load"
CHANGE_GROUP = "outbound-change"
PREVIEW_GROUP = "outbound-preview"
DEFAULT_WINDOW = "5m"


class OutboundScreen(PermissionGate, Screen[None]):
    """The destinations board; ``h`` and ``u`` need OPERATE."""

    TITLE = "wfconsole · outbound"
    AUTO_FOCUS = "#outbound-table"
    BINDINGS = [
        Binding("t", "next_window", "Window"),
        Binding("h", "hold", "Hold"),
        Binding("u", "release", "Release"),
    ]
    PERMISSIONS: ClassVar[dict[str, Permission]] = {
        "hold": Permission.OPERATE,
        "release": Permission.OPERATE,
    }
    REFUSALS: ClassVar[dict[str, str]] = {"hold": "cannot hold", "release": "cannot release"}

    @dataclass
    class BoardLoaded(Message):
        """A window's board arrived."""

        generation: int
        board: list[DestinationFigures]

    def __init__(self, backend: ConsoleBackend, *, refresh_interval: float = 2.0) -> None:
        super().__init__()
        self.backend = backend
        self.refresh_interval = refresh_interval
        self.window = DEFAULT_WINDOW
        self.board: list[DestinationFigures] = []
        self.loaded = False
        self._generation = 0
        self._layout: list[Column] = columns(80)
        self._refresh = RefreshLoop(self, self.reload)
        self._last_error: str | None = None

    def compose(self) -> ComposeResult:
        """Header, status line, board, the highlighted destination in full, footer."""
        yield ConsoleHeader()
        yield Static(id="outbound-status")
        yield RecordTable(id="outbound-table")
        yield Static(id="outbound-detail")
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The board."""
        return self.query_one("#outbound-table", RecordTable)

    def on_mount(self) -> None:
        """Lay out the columns and load the board."""
        self._layout_columns(self.app.size.width)
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        """Show p50 and Retry-After as columns when the width allows."""
        if columns(event.size.width) != self._layout:
            self._layout_columns(event.size.width)

    # --- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the window's board now; completion schedules the next refresh."""
        self._fetch(self._generation, self.window)

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch(self, generation: int, window: str) -> None:
        board = self.backend.destination_board(window=window)
        self.post_message(self.BoardLoaded(generation, board))

    def on_outbound_screen_board_loaded(self, message: BoardLoaded) -> None:
        """Show the board that arrived, unless the window changed meanwhile."""
        if message.generation != self._generation:
            return
        self.loaded = True
        self.board = message.board
        self._fill_rows()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report a failed load once (the last board stays); schedule the next refresh."""
        if event.worker.group in (CHANGE_GROUP, PREVIEW_GROUP) and event.state == WorkerState.ERROR:
            self.notify(clean(f"failed: {event.worker.error}"), severity="error", markup=False)
            return
        if event.worker.group != LOAD_GROUP:
            return
        if event.state == WorkerState.ERROR:
            message = clean(f"could not load destinations: {event.worker.error}")
            if message != self._last_error:
                self.notify(message, severity="error", markup=False)
            self._last_error = message
        elif event.state == WorkerState.SUCCESS:
            self._last_error = None
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self._refresh.schedule(self.refresh_interval)

    def on_screen_resume(self) -> None:
        """Catch up at once when shown again after missing a refresh."""
        self._refresh.resume()

    # --- showing -------------------------------------------------------------------------

    def _layout_columns(self, screen_width: int) -> None:
        self._layout = columns(screen_width)
        self.table.clear(columns=True)
        for key, label, width in self._layout:
            self.table.add_column(label, width=width, key=key)
        self._fill_rows()

    def _fill_rows(self) -> None:
        table = self.table
        selected = table.cursor_key
        table.clear()
        for figures in self.board:
            table.add_row(*cells(figures, self._layout), key=figures.destination)
        if selected is not None:
            with suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_status()
        self._show_detail()

    def selected(self) -> DestinationFigures | None:
        """The destination under the cursor."""
        key = self.table.cursor_key
        return next((f for f in self.board if f.destination == key), None)

    def _show_status(self) -> None:
        if not self.loaded:
            status = Text(f"last {self.window} · loading…")
        elif not self.board:
            status = Text(f"no outbound call in the last {self.window}, nothing held or waiting")
        else:
            held = sum(1 for f in self.board if f.held)
            calls = sum(f.calls for f in self.board)
            status = Text(f"last {self.window} · {plural(len(self.board), 'destination')} · "
                          f"{calls:,} calls · {held} held")  # fmt: skip
        self.query_one("#outbound-status", Static).update(status)

    def _show_detail(self) -> None:
        self.query_one("#outbound-detail", Static).update(detail_text(self.selected()))

    def on_record_table_row_highlighted(self, _event: RecordTable.RowHighlighted) -> None:
        """Show the highlighted destination in full."""
        self._show_detail()

    # --- keys ----------------------------------------------------------------------------

    def action_next_window(self) -> None:
        """Switch to the next window (5m → 1h → 24h → 5m) and load it."""
        names = list(WINDOWS)
        self.window = names[(names.index(self.window) + 1) % len(names)]
        self._generation += 1
        self.loaded = False
        self._show_status()
        self.reload()

    def action_hold(self) -> None:
        """Ask which destination to hold (the highlighted one) and for how long."""
        if self.refuse("hold"):
            return
        figures = self.selected()
        actor = self.console.operator

        def answered(request: HoldRequest | None) -> None:
            if request is not None:
                self._change(lambda: self._hold(request, actor))

        self.app.push_screen(
            HoldDestinationScreen(figures.destination if figures else ""), answered
        )

    def _hold(self, request: HoldRequest, actor: str) -> str:
        result = self.backend.hold_destination(request.destination, for_=request.for_, actor=actor)
        until = f" for {_duration(request.for_)}" if request.for_ else " until released"
        return f"{result.destination}: held{until}; {result.waiting:,} runs waiting"

    def action_release(self) -> None:
        """Release the highlighted destination after showing what that will send."""
        if self.refuse("release"):
            return
        figures = self.selected()
        if figures is None:
            self.notify("no destination to release", severity="warning")
            return
        self._preview_release(figures.destination, self.console.operator)

    @work(thread=True, exclusive=True, exit_on_error=False, group=PREVIEW_GROUP)
    def _preview_release(self, destination: str, actor: str) -> None:
        preview = release_preview(self.backend.preview_release(destination))
        self.app.call_from_thread(self._confirm_release, preview, destination, actor)

    def _confirm_release(self, preview: ChangePreview, destination: str, actor: str) -> None:
        if not preview.changes:
            self.notify(f"{destination} is not held and no run waits for it", markup=False)
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._change(lambda: self._release(destination, actor))

        self.app.push_screen(BlastRadiusScreen(preview), answered)

    def _release(self, destination: str, actor: str) -> str:
        result = self.backend.release_destination(destination, actor=actor)
        return f"{result.destination}: released; {plural(result.released, 'run')} sent"

    @work(thread=True, exit_on_error=False, group=CHANGE_GROUP)
    def _change(self, call: changes.Change) -> None:
        changes.run_change(call, self.post_message)

    def on_change_done(self, message: changes.ChangeDone) -> None:
        """Say what happened and show the board as it is now."""
        self.notify(message.note, severity=message.severity, markup=False)
        self.reload()


def _duration(value: timedelta) -> str:
    from engine.definitions.durations import format_duration

    return format_duration(value)
