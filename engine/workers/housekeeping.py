"""What every worker process does beside running executions, from its sweeper thread.

Each sweeper pass (every ``queue.sweep_interval`` seconds) also runs the cron tick and
resumes workflows whose ``pause --for`` is up (dropping expired limit overrides);
alerts are checked every ``alerts.check_interval`` seconds; the retention cleanup runs
once a day after ``retention.cleanup_time`` (UTC). Every process does this: the cron
tick and alerts are safe to run concurrently (unique keys, claimed notifications), and
the daily cleanup runs in its own thread, under a PostgreSQL advisory lock, and is
skipped when the audit log shows one already completed today (or failed within the hour).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

import sqlalchemy as sa

from engine.config import Settings
from engine.db import Database
from engine.models import AuditLog, table_of, utcnow
from engine.triggers.new_executions import Dispatcher

log = logging.getLogger("wfconsole.periodic")
A = table_of(AuditLog).c
CLEANUP_ACTION = "maintenance.cleanup"
RETRY_FAILED_CLEANUP_AFTER = timedelta(hours=1)
"""A daily cleanup that failed partway is tried again this long after."""
LOCK_KEY = 0x77666331  # pg advisory lock of the daily cleanup ("wfc1")


def cleanup_due(db: Database, settings: Settings, now: datetime, *, primary: bool = False) -> bool:
    """Past today's cleanup time (UTC), no cleanup completed since then, and none failed
    within ``RETRY_FAILED_CLEANUP_AFTER`` (its audit row says ``"completed": false``)."""
    hours, minutes = (int(part) for part in settings.retention.cleanup_time.split(":"))
    start = datetime.combine(now.date(), clock_time(hours, minutes), tzinfo=UTC)
    if now < start:
        return False
    recent = A.timestamp >= now - RETRY_FAILED_CLEANUP_AFTER
    with (db.engine if primary else db.read_engine).connect() as conn:
        runs = conn.execute(
            sa.select(recent, A.details).where(A.action == CLEANUP_ACTION, A.timestamp >= start)
        ).all()
    return not any(bool(was_recent) or _completed(details) for was_recent, details in runs)


def _completed(details: object) -> bool:
    # Rows written before failed cleanups were audited have no "completed": they did.
    return not (isinstance(details, dict) and details.get("completed") is False)


class PeriodicWork:
    """The cron tick, alert checks and the daily cleanup of one worker process."""

    def __init__(self, db: Database, settings: Settings, queue: Dispatcher) -> None:
        self.db = db
        self.settings = settings
        self.queue = queue
        self._next_alerts = 0.0
        self._cleanup_thread: threading.Thread | None = None

    def run(self, queue_counter: object | None = None, now: datetime | None = None) -> None:
        """One pass; each part logs and swallows its own failure."""
        now = now or utcnow()
        self._guarded("cron tick", self._cron, now)
        self._guarded("flow control", self._flow_control, now)
        self._guarded("destination holds", self._destinations)
        if time.monotonic() >= self._next_alerts:
            self._next_alerts = time.monotonic() + self.settings.alerts.check_interval
            self._guarded("alert check", self._alerts, queue_counter)
        self._guarded("daily cleanup", self._cleanup, now)

    def _guarded(self, what: str, part: object, *args: object) -> None:
        try:
            part(*args)  # type: ignore[operator]
        except Exception:  # keep the worker alive: the next pass tries again
            log.exception("%s failed", what)

    def _cron(self, now: datetime) -> None:
        from engine.triggers.cron import cron_tick

        cron_tick(self.db, self.queue, self.settings, now=now)

    def _flow_control(self, now: datetime) -> None:
        """Resume workflows whose ``pause --for`` is up; drop limit overrides that expired."""
        from engine.services.flow_control import auto_resume_due
        from engine.services.flow_limits import expire_overrides

        auto_resume_due(self.db, now, self.queue)
        expire_overrides(self.db, now, self.queue)

    def _destinations(self) -> None:
        """End holds whose ``--for`` is up and send the runs no longer held back."""
        from engine.services.destination_holds import release_due

        release_due(self.db, self.queue, breaker_enabled=self.settings.outbound.breaker_enabled)

    def _alerts(self, queue_counter: object | None) -> None:
        from engine.alerts.check import alerts_tick

        alerts_tick(self.db, self.settings, queue_counter=queue_counter)  # type: ignore[arg-type]

    def _cleanup(self, now: datetime) -> None:
        """Start the daily cleanup in its own thread, so sweeping and cron keep their pace."""
        if self._cleanup_thread is not None and self._cleanup_thread.is_alive():
            return
        if not cleanup_due(self.db, self.settings, now):
            return
        self._cleanup_thread = threading.Thread(
            target=self._guarded,
            args=("daily cleanup", self._cleanup_once, now),
            name="wfconsole-cleanup",
            daemon=True,
        )
        self._cleanup_thread.start()

    def _cleanup_once(self, now: datetime) -> None:
        """Clean up unless another process is already at it (or finished it today)."""
        from engine.maintenance.cleanup import run_cleanup

        with self.db.engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
                if not got.scalar_one():
                    return  # another worker is cleaning up right now
                conn.commit()
            try:
                # Checked again on the primary under the lock: it may have just finished.
                if not cleanup_due(self.db, self.settings, now, primary=True):
                    return
                result = run_cleanup(
                    self.db,
                    logs_days=self.settings.retention.logs_days,
                    executions_days=self.settings.retention.executions_days,
                    actor="wfconsole-worker",
                )
            finally:
                if postgres:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                    conn.commit()
        log.info(
            "daily cleanup: %d log lines and %d executions deleted in %.1f s",
            result.logs_deleted,
            result.executions_deleted,
            result.seconds,
        )
