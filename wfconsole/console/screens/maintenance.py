"""Maintenance: health, the queue, retention, backups; cleanup, vacuum, backup, restore, flush.

Every job runs in a thread worker and reports by message (progress included), so typing
never blocks; one job runs at a time. Each needs ADMIN (``Permission.EDIT``): the keys
are shown disabled for other roles and say why, and the engine checks the stored role
again and writes the audit row. Cleanup counts first (the dry run) and asks; vacuum and
restore ask; backup just runs. A restore is refused while executions are RUNNING. Flush
reads the queue again and names the stale leases and locks it would release before it
asks. ``a`` opens the alert history (reading needs no role).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Log, ProgressBar, Static

from engine.access.roles import Permission
from engine.maintenance.cleanup import CleanupPlan
from engine.services.maintenance import BackupFile, MaintenanceOverview
from engine.services.queue_tools import QueueReport
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.alerts import AlertsScreen
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.views import maintenance_jobs as jobs
from wfconsole.console.views.display import first_line, middle_ellipsis
from wfconsole.console.views.maintenance_text import (
    backup_row,
    cleanup_question,
    restore_question,
    retention_panel,
    vacuum_question,
)
from wfconsole.console.views.permission_gate import PermissionGate
from wfconsole.console.views.queue_text import (
    flush_question,
    health_panel,
    nothing_stale_line,
    queue_panel,
)
from wfconsole.console.widgets.console_footer import ConsoleFooter
from wfconsole.console.widgets.console_header import ConsoleHeader
from wfconsole.console.widgets.record_table import RecordTable
from wfconsole.console.widgets.safe_text import clean

JOB_GROUP = "maintenance-job"


class MaintenanceScreen(PermissionGate, Screen[None]):
    """The database's upkeep: retention cleanup, vacuum, backups and restore."""

    TITLE = "wfconsole · maintenance"
    AUTO_FOCUS = "#maintenance-backups"
    BINDINGS = [
        Binding("c", "cleanup", "Cleanup"),
        Binding("v", "vacuum", "Vacuum"),
        Binding("b", "backup", "Backup"),
        Binding("r", "restore", "Restore"),
        Binding("l", "flush_locks", "Flush locks"),
        Binding("a", "show_alerts", "Alerts"),
    ]
    PERMISSIONS: ClassVar[dict[str, Permission]] = {
        "cleanup": Permission.EDIT,
        "vacuum": Permission.EDIT,
        "backup": Permission.EDIT,
        "restore": Permission.EDIT,
        "flush_locks": Permission.EDIT,
    }

    @dataclass
    class Loaded(Message):
        """The overview, the health document and the queue's figures arrived."""

        overview: MaintenanceOverview
        health: dict[str, Any]
        queue: QueueReport | None
        queue_error: str | None = None

    def __init__(self, backend: ConsoleBackend) -> None:
        super().__init__()
        self.backend = backend
        self.overview: MaintenanceOverview | None = None
        self.health: dict[str, Any] | None = None
        self.queue_report: QueueReport | None = None
        self.job: str | None = None
        """The job running now (one at a time), or None."""

    def compose(self) -> ComposeResult:
        """Panels, the backups list, the job's log and progress."""
        yield ConsoleHeader()
        yield Static("loading…", id="maintenance-status", markup=False)
        with Horizontal(id="maintenance-panels"):
            yield Static(health_panel(None, None), id="maintenance-health")
            yield Static(queue_panel(None), id="maintenance-queue")
            yield Static(retention_panel(None), id="maintenance-retention")
        yield Static("Backups", id="maintenance-backups-title", markup=False)
        yield RecordTable(id="maintenance-backups")
        yield ProgressBar(id="maintenance-progress", show_eta=False)
        yield Log(id="maintenance-log", max_lines=200)
        yield ConsoleFooter()

    @property
    def table(self) -> RecordTable:
        """The backups list."""
        return self.query_one("#maintenance-backups", RecordTable)

    def on_mount(self) -> None:
        """Columns, then the first load; the progress bar and the log show once a job runs."""
        self.query_one("#maintenance-progress", ProgressBar).display = False
        self.query_one("#maintenance-log", Log).display = False
        self._columns(self.app.size.width)
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        """Fit the file-name column and the backups' directory to the width."""
        self._columns(event.size.width)
        self._fill()
        self._backups_title()

    def _log(self, line: str) -> None:
        """A line in the job log, shown from the first job on."""
        log = self.query_one("#maintenance-log", Log)
        log.display = True
        log.write_line(line)

    def _name_width(self, width: int) -> int:
        return max(16, width - 42)

    def _columns(self, width: int) -> None:
        table = self.table
        table.clear(columns=True)
        table.add_column("backup file", key="file", width=self._name_width(width))
        table.add_column("taken (file time)", key="time", width=20)
        table.add_column("size", key="size", width=10)

    # --- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the overview, health and the queue again (in a worker)."""
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="maintenance-load")
    def _load(self) -> None:
        try:
            overview = self.backend.maintenance_overview()
        except Exception as exc:  # the status line says why; the last figures stay
            self.app.call_from_thread(self._status, f"could not load: {first_line(str(exc))}")
            return
        health = self.backend.health_checks()
        try:
            queue, error = self.backend.queue_report(), None
        except Exception as exc:  # the queue panel says why; the rest stands
            queue, error = None, first_line(str(exc))
        self.post_message(self.Loaded(overview, health, queue, error))

    def on_maintenance_screen_loaded(self, message: Loaded) -> None:
        """Show the panels and the backups."""
        self.overview, self.health = message.overview, message.health
        self.queue_report = message.queue
        self.query_one("#maintenance-health", Static).update(
            health_panel(self.overview, self.health)
        )
        self.query_one("#maintenance-queue", Static).update(
            queue_panel(message.queue, message.queue_error)
        )
        self.query_one("#maintenance-retention", Static).update(retention_panel(self.overview))
        self._backups_title()
        self._fill()
        self._status()

    def _backups_title(self) -> None:
        if self.overview is None:
            return
        title = f"Backups · {len(self.overview.backups)} in "
        room = self.app.size.width - 2 - len(title)
        directory = middle_ellipsis(clean(self.overview.backups_dir), room)
        self.query_one("#maintenance-backups-title", Static).update(title + directory)

    def _fill(self) -> None:
        table = self.table
        table.clear()
        if self.overview is None:
            return
        width = self._name_width(self.app.size.width)
        for backup in self.overview.backups:
            table.add_row(*backup_row(backup, width), key=str(backup.path))

    def _status(self, note: str | None = None) -> None:
        if note is None:
            job = f"{self.job} running…" if self.job else "c cleanup · v vacuum · b backup"
            note = f"{job} · r restores the highlighted backup"
        self.query_one("#maintenance-status", Static).update(note)

    def selected_backup(self) -> BackupFile | None:
        """The backup under the cursor."""
        if self.overview is None or not self.overview.backups:
            return None
        row = self.table.cursor_row
        backups = self.overview.backups
        return backups[row] if 0 <= row < len(backups) else None

    # --- jobs ----------------------------------------------------------------------------

    def _start(self, job: str) -> bool:
        if self.job is not None:
            self.notify(f"{job}: wait until the {self.job} has finished", severity="warning")
            return False
        self.job = job
        self._log(f"{job}…")
        bar = self.query_one("#maintenance-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self._status()
        return True

    def action_cleanup(self) -> None:
        """Count what retention would delete, then ask."""
        if self._start("cleanup"):
            self._plan_cleanup()

    @work(thread=True, exit_on_error=False, group=JOB_GROUP)
    def _plan_cleanup(self) -> None:
        jobs.plan_cleanup(self.backend, self.post_message)

    def on_cleanup_planned(self, message: jobs.CleanupPlanned) -> None:
        """The counts per table; the rows go only on ``y``."""
        plan = message.plan
        self._log(
            f"dry run: {plan.executions:,} executions, {plan.steps_with_them:,} steps, "
            f"{plan.old_logs + plan.logs_with_them:,} log lines"
        )
        if not plan.rows:
            self._finish("cleanup: nothing is past retention", ok=True)
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                total = plan.old_logs + plan.executions
                self.query_one("#maintenance-progress", ProgressBar).update(total=total)
                self._run_cleanup(plan)
            else:
                self._finish("cleanup cancelled: nothing deleted", ok=True)

        self.app.push_screen(
            ConfirmScreen("Cleanup", cleanup_question(plan), yes="delete"), answered
        )

    @work(thread=True, exit_on_error=False, group=JOB_GROUP)
    def _run_cleanup(self, plan: CleanupPlan) -> None:
        jobs.run_cleanup(self.backend, plan, self.console.operator, self.post_message)

    def action_vacuum(self) -> None:
        """Ask, then vacuum."""
        if self.job is not None:
            self._start("vacuum")  # says to wait
            return
        kind = self.overview.database_kind if self.overview else "sqlite"

        def answered(confirmed: bool | None) -> None:
            if confirmed and self._start("vacuum"):
                self._vacuum()

        self.app.push_screen(ConfirmScreen("Vacuum", vacuum_question(kind), yes="vacuum"), answered)

    @work(thread=True, exit_on_error=False, group=JOB_GROUP)
    def _vacuum(self) -> None:
        jobs.run_vacuum(self.backend, self.console.operator, self.post_message)

    def action_backup(self) -> None:
        """Write a backup into the backups directory."""
        if self._start("backup"):
            self._backup()

    @work(thread=True, exit_on_error=False, group=JOB_GROUP)
    def _backup(self) -> None:
        jobs.run_backup(self.backend, self.console.operator, self.post_message)

    def action_restore(self) -> None:
        """Restore the highlighted backup after a warning."""
        backup = self.selected_backup()
        if backup is None:
            self.notify("restore: no backup to restore (b makes one)", severity="warning")
            return
        if self.job is not None:
            self._start("restore")  # says to wait
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed and self._start("restore"):
                self._restore(backup.path)

        self.app.push_screen(
            ConfirmScreen("Restore", restore_question(backup), yes="replace everything"),
            answered,
        )

    def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        """``enter`` on a backup: restore it (after the same warning)."""
        event.stop()
        if not self.refuse("restore"):
            self.action_restore()

    @work(thread=True, exit_on_error=False, group=JOB_GROUP)
    def _restore(self, path: Path) -> None:
        jobs.run_restore(self.backend, path, self.console.operator, self.post_message)

    def action_flush_locks(self) -> None:
        """Read the queue again, name what is stale, then ask."""
        if self._start("flush"):
            self._plan_flush()

    @work(thread=True, exit_on_error=False, group=JOB_GROUP)
    def _plan_flush(self) -> None:
        jobs.plan_flush(self.backend, self.post_message)

    def on_flush_planned(self, message: jobs.FlushPlanned) -> None:
        """Show the fresh figures; the stale leases and locks go only on ``y``."""
        plan = message.report
        self.queue_report = plan
        self.query_one("#maintenance-queue", Static).update(queue_panel(plan))
        if plan.nothing_stale:
            self._finish(nothing_stale_line(plan), ok=True)
            return
        stale = len(plan.stale_leases) + len(plan.stale_locks)
        self.query_one("#maintenance-progress", ProgressBar).update(total=stale, progress=0)
        self._log(f"stale: {len(plan.stale_leases):,} lease(s), {len(plan.stale_locks)} lock(s)")

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._run_flush(plan)
            else:
                self._finish("flush cancelled: nothing released", ok=True)

        self.app.push_screen(ConfirmScreen("Flush", flush_question(plan), yes="release"), answered)

    @work(thread=True, exit_on_error=False, group=JOB_GROUP)
    def _run_flush(self, plan: QueueReport) -> None:
        jobs.run_flush(self.backend, plan, self.console.operator, self.post_message)

    def action_show_alerts(self) -> None:
        """``a``: the alert history (the dashboard's, read-only)."""
        self.app.push_screen(AlertsScreen(self.backend))

    # --- job messages --------------------------------------------------------------------

    def on_job_progressed(self, message: jobs.JobProgressed) -> None:
        """A line for the log; the bar moves when the job counts."""
        self._log(clean(message.line))
        if message.done is not None:
            self.query_one("#maintenance-progress", ProgressBar).update(progress=message.done)

    def on_job_finished(self, message: jobs.JobFinished) -> None:
        """Say what the job did, then show the database as it is now."""
        self._finish(message.line, ok=message.ok)
        if message.restored:
            self._reload_role()
        self.reload()

    def _finish(self, line: str, *, ok: bool) -> None:
        self.job = None
        bar = self.query_one("#maintenance-progress", ProgressBar)
        if ok:
            bar.update(total=bar.total or 1, progress=bar.total or 1)
        else:
            bar.update(total=bar.total or 1)  # stays where the job stopped
        self._log(clean(line))
        self.notify(clean(line), severity="information" if ok else "error", markup=False)
        self._status()

    @work(thread=True, exclusive=True, exit_on_error=False, group="maintenance-role")
    def _reload_role(self) -> None:
        # The restored database has its own users: the operator's role may differ now.
        role = self.backend.user_role(self.console.operator)
        self.app.call_from_thread(setattr, self.console, "role", role)
        self.app.call_from_thread(self.refresh_bindings)
