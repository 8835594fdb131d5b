"""The schedules board: every schedule trigger with its next fire time, last run, last
success and the fire times of the last 24 h that have no run (gaps) or started late.

``enter`` lists the scheduled runs of the trigger's workflow. ``b`` on a trigger with
gaps asks the engine what a backfill of them would create (its dry run), shows that, and
on ``y`` creates one run per missing fire time, keyed as the cron tick keys them (a time
that ran is never doubled). Backfill needs OPERATOR.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission, PermissionDenied
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.views.execution_filter import ExecutionFilter
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.views.schedule_board import (
    FIXED_COLUMNS,
    backfill_question,
    board_cells,
    board_status,
    row_key,
    trigger_detail,
    workflow_width,
)
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.record_table import RecordTable, RowDoesNotExist
from wfconsole.console.widgets.safe_text import clean

if TYPE_CHECKING:
    from engine.services.schedules import BackfillPlan, ScheduleStatus

LOAD_GROUP = "schedules-load"
BACKFILL_GROUP = "schedules-backfill"
WINDOW_HOURS = 24
"""The board's window (the engine's default)."""


def now() -> datetime:
    """The clock the board and the backfill count from (tests pin it)."""
    return datetime.now(UTC)


class SchedulesScreen(PermissionGate, Screen[None]):
    """One row per schedule trigger; the highlighted one's gaps below; ``b`` backfills."""

    TITLE = "wfconsole · schedules"
    AUTO_FOCUS = "#schedules-table"
    PERMISSIONS: ClassVar[dict[str, Permission]] = {"backfill": Permission.OPERATE}
    REFUSALS: ClassVar[dict[str, str]] = {"backfill": "cannot backfill"}
    BINDINGS = [
        Binding("b", "backfill", "Backfill"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    @dataclass
    class BoardLoaded(Message):
        """The board arrived, read at ``at``."""

        board: list[ScheduleStatus]
        at: datetime

    @dataclass
    class BackfillPlanned(Message):
        """A backfill ran (``dry_run``: only planned); ``plan`` says what it found."""

        plan: BackfillPlan
        dry_run: bool

    @dataclass
    class BackfillRefused(Message):
        """The engine refused the backfill; ``note`` says why."""

        note: str

    def __init__(self, backend: ConsoleBackend) -> None:
        super().__init__()
        self.backend = backend
        self.board: list[ScheduleStatus] = []
        self.read_at = now()
        self._workflow_width = workflow_width(80)

    def compose(self) -> ComposeResult:
        """Header, status line, the board, the highlighted trigger, footer."""
        yield ConsoleHeader()
        yield Static(id="schedules-status")
        yield RecordTable(id="schedules-table")
        yield Static(id="schedules-detail")
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The board."""
        return self.query_one("#schedules-table", RecordTable)

    def on_mount(self) -> None:
        """Lay out the columns and read the board."""
        self._layout(self.app.size.width)
        self.query_one("#schedules-status", Static).update("reading the schedules…")
        self.reload()

    def on_screen_resume(self) -> None:
        """Read the board again when shown again (runs happened meanwhile)."""
        if self.board:
            self.reload()

    def on_resize(self, event: events.Resize) -> None:
        """Give the workflow column the width there is."""
        if workflow_width(event.size.width) != self._workflow_width:
            self._layout(event.size.width)

    def reload(self) -> None:
        """Read the board again (in a worker)."""
        self._fetch()

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def _fetch(self) -> None:
        at = now()
        self.post_message(self.BoardLoaded(self.backend.schedule_board(now=at), at))

    def on_schedules_screen_board_loaded(self, message: BoardLoaded) -> None:
        """Show the board; the cursor stays on its trigger."""
        self.board, self.read_at = message.board, message.at
        self._fill()

    def _layout(self, screen_width: int) -> None:
        self._workflow_width = workflow_width(screen_width)
        table = self.table
        table.clear(columns=True)
        table.add_column("workflow", width=self._workflow_width, key="workflow")
        for key, label, width in FIXED_COLUMNS:
            table.add_column(label, width=width, key=key)
        self._fill()

    def _fill(self) -> None:
        table = self.table
        selected = table.cursor_key
        table.clear()
        for status in self.board:
            cells = board_cells(status, self._workflow_width, self.read_at)
            table.add_row(*cells, key=row_key(status))
        if selected is not None:
            with suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self.query_one("#schedules-status", Static).update(board_status(self.board, WINDOW_HOURS))
        self._show_detail()

    def selected(self) -> ScheduleStatus | None:
        """The trigger under the cursor."""
        key = self.table.cursor_key
        return next((s for s in self.board if row_key(s) == key), None)

    def on_record_table_row_highlighted(self, _event: RecordTable.RowHighlighted) -> None:
        """Show the highlighted trigger's gaps and late starts."""
        self._show_detail()

    async def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """``enter``: the scheduled runs of the highlighted trigger's workflow."""
        event.stop()
        status = self.selected()
        if status is not None:
            shown = ExecutionFilter(
                workflow=status.trigger.workflow, workflow_exact=True, trigger="schedule"
            )
            await self.console.show_executions(shown)

    def _show_detail(self) -> None:
        detail = trigger_detail(self.selected(), self.read_at, WINDOW_HOURS)
        self.query_one("#schedules-detail", Static).update(detail)

    # --- backfill --------------------------------------------------------------------------

    def action_backfill(self) -> None:
        """Preview a backfill of the highlighted trigger's gaps (the engine's dry run)."""
        if self.refuse("backfill"):
            return
        status = self.selected()
        if status is None:
            return
        if not status.gaps:
            self.notify("no gaps in the window: nothing to backfill", markup=False)
            return
        workflow = status.trigger.workflow
        self._backfill(workflow, min(status.gaps), max(status.gaps), dry_run=True)

    @work(thread=True, exit_on_error=False, group=BACKFILL_GROUP)
    def _backfill(self, workflow: str, since: datetime, until: datetime, *, dry_run: bool) -> None:
        from engine.services.schedules import TooManyFireTimes
        from engine.workflow_cache.lookups import WorkflowNotFound

        try:
            plan = self.backend.backfill_schedule(
                workflow, since=since, until=until, dry_run=dry_run,
                actor=self.console.operator, now=now(),
            )  # fmt: skip
        except (PermissionDenied, TooManyFireTimes, WorkflowNotFound, ValueError) as exc:
            self.post_message(self.BackfillRefused(clean(f"cannot backfill: {exc}")))
            return
        self.post_message(self.BackfillPlanned(plan, dry_run))

    def on_schedules_screen_backfill_planned(self, message: BackfillPlanned) -> None:
        """After the dry run, ask; after the backfill, say how many runs it created."""
        plan = message.plan
        if not message.dry_run:
            created = len(plan.created)
            self.notify(clean(f"{plan.workflow}: backfill created {created} run"
                              f"{'' if created == 1 else 's'}"), markup=False)  # fmt: skip
            self.reload()
            return
        if not plan.missing:
            self.notify(clean(f"{plan.workflow}: every fire time in the range has a run now; "
                              "nothing to backfill"), markup=False)  # fmt: skip
            self.reload()
            return
        count = len(plan.missing)

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._backfill(plan.workflow, plan.since, plan.until, dry_run=False)

        self.app.push_screen(
            ConfirmScreen("Backfill", backfill_question(plan),
                          yes=f"create {count} run{'' if count == 1 else 's'}"),
            answered,
        )  # fmt: skip

    def on_schedules_screen_backfill_refused(self, message: BackfillRefused) -> None:
        """Say why nothing was created."""
        self.notify(message.note, severity="error", markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report a board or backfill that failed unexpectedly; what is shown stays."""
        if event.state == WorkerState.ERROR and event.worker.group in (LOAD_GROUP, BACKFILL_GROUP):
            self.notify(clean(f"failed: {event.worker.error}"), severity="error", markup=False)
