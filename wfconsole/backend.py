"""What the console's screens call, and the implementation over the engine's services.

Screens depend on ``ConsoleBackend`` only, so tests can hand the app a fake; the console
never builds SQL or touches the queue's storage itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from engine.alerts.incidents import AlertRow
from engine.alerts.incidents import list_alerts as _list_alerts
from engine.config import Settings
from engine.db import Database, redact_url, session_scope
from engine.maintenance.backup import BackupResult
from engine.maintenance.cleanup import CleanupPlan, CleanupResult
from engine.maintenance.cleanup import Progress as CleanupProgress
from engine.maintenance.vacuum import Progress as VacuumProgress
from engine.maintenance.vacuum import VacuumResult
from engine.runs import Dispatcher
from engine.services.audit import ensure_user
from engine.services.blast_radius import BlastRadius
from engine.services.blast_radius import preview_cancel as _preview_cancel
from engine.services.blast_radius import preview_retry as _preview_retry
from engine.services.control import CancelResult
from engine.services.control import cancel_executions as _cancel_executions
from engine.services.control import retry_executions as _retry_executions
from engine.services.dashboard import DashboardMetrics, collect_dashboard
from engine.services.executions import Cursor, ExecutionDetail, ExecutionRow
from engine.services.executions import get_execution as _get_execution
from engine.services.executions import list_executions as _list_executions
from engine.services.failures import (
    ClusterKey,
    FailureCluster,
    cluster_execution_ids,
    cluster_executions,
    list_failure_clusters,
)
from engine.services.health import HealthReport, check_health
from engine.services.maintenance import (
    MaintenanceOverview,
    backup_database,
    cleanup_database,
    maintenance_overview,
    preview_cleanup,
    restore_database,
    vacuum_database,
)
from engine.services.metrics import QueueCounter
from engine.services.workflow_admin import (
    SchedulePreview,
    count_executions,
    run_now,
    schedule_preview,
    set_enabled,
)
from engine.services.workflow_admin import delete_workflow as _delete_workflow
from engine.services.workflow_editing import save_edited_workflow
from engine.services.workflow_versions import VersionDiff, diff_versions, roll_back
from engine.services.workflows import (
    SaveResult,
    VersionSummary,
    WorkflowSummary,
    export_documents,
    list_versions,
)
from engine.services.workflows import list_workflows as _list_workflows

QueueKind = Literal["sqlite", "redis"]


@dataclass(frozen=True)
class BackendInfo:
    """What the header shows about the deployment the console is attached to."""

    database_url: str
    """The database URL with its password hidden."""
    queue_kind: QueueKind
    queue_location: str
    """The SQLite queue file or the Redis URL (password hidden)."""


class ConsoleBackend(Protocol):
    """Every call a console screen makes; each may block, so screens call it from workers."""

    def describe(self) -> BackendInfo:
        """The database and queue the console is attached to."""
        ...

    def user_role(self, username: str) -> str:
        """The role of ``username`` (a ``Role`` value); first sight creates the user."""
        ...

    def list_workflows(self) -> list[WorkflowSummary]:
        """Every workflow with its counters, by name."""
        ...

    def list_executions(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        workflow_contains: str | None = None,
        trigger_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        error_contains: str | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> list[ExecutionRow]:
        """One page of executions, newest first; ``after`` continues past a cursor."""
        ...

    def preview_retry(self, ids: Sequence[str]) -> BlastRadius:
        """What retrying ``ids`` would change, send and skip."""
        ...

    def preview_cancel(self, ids: Sequence[str]) -> BlastRadius:
        """What cancelling ``ids`` would change and stop."""
        ...

    def retry_executions(self, ids: Sequence[str], *, actor: str) -> list[str]:
        """Retry the retryable ones of ``ids`` (needs OPERATE); returns those retried."""
        ...

    def cancel_executions(self, ids: Sequence[str], *, actor: str) -> list[CancelResult]:
        """Cancel ``ids`` (needs OPERATE); PENDING at once, RUNNING before its next step."""
        ...

    def get_execution(self, execution_id: str) -> ExecutionDetail:
        """One execution with its steps and log lines."""
        ...

    def failure_clusters(self, *, since: datetime, limit: int = 500) -> list[FailureCluster]:
        """Failures created since ``since``, clustered; most failures first."""
        ...

    def failure_cluster_ids(self, key: ClusterKey, *, since: datetime) -> list[str]:
        """The FAILED executions of one cluster created since ``since``, newest first."""
        ...

    def executions_by_ids(self, ids: Sequence[str]) -> list[ExecutionRow]:
        """The executions ``ids`` as list rows, in the order given."""
        ...

    def dashboard_metrics(
        self, *, now: datetime | None = None, previous: DashboardMetrics | None = None
    ) -> DashboardMetrics:
        """Every dashboard figure (``previous``: the last refresh, to read less)."""
        ...

    def health(self) -> HealthReport:
        """Whether the database and the queue answer; never raises."""
        ...

    def list_alerts(self, *, open_only: bool = False, limit: int = 200) -> list[AlertRow]:
        """The alert history, newest first."""
        ...

    def save_workflow(
        self, document: dict[str, Any], *, actor: str, original_name: str | None
    ) -> SaveResult:
        """Save an edited definition (new when ``original_name`` is None); needs EDIT."""
        ...

    # --- workflow administration (the workflows screen) -------------------------------

    def set_workflow_enabled(self, name: str, enabled: bool, *, actor: str) -> bool:
        """Enable or disable a workflow (needs EDIT); True when that changed it."""
        ...

    def count_workflow_executions(self, name: str) -> int:
        """How many executions deleting the workflow would remove."""
        ...

    def delete_workflow(self, name: str, *, actor: str) -> int:
        """Delete a workflow and its executions (needs EDIT); returns how many runs went."""
        ...

    def run_workflow(self, name: str, payload: dict[str, Any], *, actor: str) -> list[str]:
        """Run a workflow now with ``payload`` as trigger data (needs OPERATE); the new ids."""
        ...

    def workflow_schedules(
        self, name: str, *, after: datetime | None = None
    ) -> list[SchedulePreview]:
        """The next fire times of each schedule trigger of the workflow."""
        ...

    def workflow_document(self, name: str) -> dict[str, Any]:
        """The workflow's current definition document (what the editor opens)."""
        ...

    def list_workflow_versions(self, name: str) -> list[VersionSummary]:
        """Every saved version of the workflow, newest first."""
        ...

    def diff_workflow_versions(self, name: str, old: int | None, new: int | None) -> VersionDiff:
        """Unified diff between two versions (None: the workflow as stored now)."""
        ...

    def roll_back_workflow(self, name: str, version: int, *, actor: str) -> SaveResult:
        """Save an old version's definition as a new version (needs EDIT)."""
        ...

    # --- maintenance (the maintenance screen; every job needs EDIT and is audited) ----

    def maintenance_overview(self) -> MaintenanceOverview:
        """Database size, retention settings and the backups on disk."""
        ...

    def preview_cleanup(self) -> CleanupPlan:
        """What a cleanup with the configured retention would delete (the dry run)."""
        ...

    def run_cleanup(
        self, plan: CleanupPlan, *, actor: str, progress: CleanupProgress | None = None
    ) -> CleanupResult:
        """Delete what ``plan`` counted, in batches, reporting ``progress``."""
        ...

    def vacuum_database(
        self, *, actor: str, progress: VacuumProgress | None = None
    ) -> VacuumResult:
        """VACUUM/ANALYZE (and REINDEX on PostgreSQL), naming each statement."""
        ...

    def backup_database(self, *, actor: str) -> BackupResult:
        """A backup into the backups directory."""
        ...

    def restore_database(self, path: Path, *, actor: str) -> float:
        """Replace everything with a backup (refused while executions are RUNNING)."""
        ...


class EngineBackend:
    """``ConsoleBackend`` over the engine's service functions and one open database."""

    def __init__(
        self, db: Database, settings: Settings, *, queue: Dispatcher | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self._queue = queue
        self.queue_counter: QueueCounter | None = None
        """Counts queue messages for the dashboard; the deployment's Huey unless set."""

    @property
    def queue(self) -> Dispatcher:
        """The deployment's queue, for starting runs; opened on first use."""
        if self._queue is None:
            from engine.queue import Queue

            self._queue = Queue(self.settings, db=self.db)
        return self._queue

    def describe(self) -> BackendInfo:
        """The database and queue the console is attached to."""
        if self.settings.uses_redis:
            return BackendInfo(
                self.db.display_url, "redis", redact_url(self.settings.queue.redis_url)
            )
        return BackendInfo(self.db.display_url, "sqlite", str(self.settings.queue_path))

    def user_role(self, username: str) -> str:
        """The role of ``username`` (a ``Role`` value); first sight creates the user."""
        with session_scope(self.db) as session:
            return ensure_user(session, username).role

    def list_workflows(self) -> list[WorkflowSummary]:
        """Every workflow with its counters, by name."""
        return _list_workflows(self.db)

    def list_executions(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        workflow_contains: str | None = None,
        trigger_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        error_contains: str | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> list[ExecutionRow]:
        """One page of executions, newest first; ``after`` continues past a cursor."""
        return _list_executions(
            self.db,
            status=status,
            workflow=workflow,
            workflow_contains=workflow_contains,
            trigger_type=trigger_type,
            since=since,
            until=until,
            error_contains=error_contains,
            limit=limit,
            after=after,
        )

    def preview_retry(self, ids: Sequence[str]) -> BlastRadius:
        """What retrying ``ids`` would change, send and skip."""
        return _preview_retry(self.db, ids)

    def preview_cancel(self, ids: Sequence[str]) -> BlastRadius:
        """What cancelling ``ids`` would change and stop."""
        return _preview_cancel(self.db, ids)

    def retry_executions(self, ids: Sequence[str], *, actor: str) -> list[str]:
        """Retry the retryable ones of ``ids`` (needs OPERATE); returns those retried."""
        return _retry_executions(
            self.db, self.queue, ids, actor=actor, strict=False, check_role=True
        )

    def cancel_executions(self, ids: Sequence[str], *, actor: str) -> list[CancelResult]:
        """Cancel ``ids`` (needs OPERATE); PENDING at once, RUNNING before its next step."""
        return _cancel_executions(self.db, ids, actor=actor, check_role=True)

    def get_execution(self, execution_id: str) -> ExecutionDetail:
        """One execution with its steps and log lines."""
        return _get_execution(self.db, execution_id)

    def failure_clusters(self, *, since: datetime, limit: int = 500) -> list[FailureCluster]:
        """Failures created since ``since``, clustered; most failures first."""
        return list_failure_clusters(self.db, since=since, limit=limit)

    def failure_cluster_ids(self, key: ClusterKey, *, since: datetime) -> list[str]:
        """The FAILED executions of one cluster created since ``since``, newest first."""
        return cluster_execution_ids(self.db, key, since=since)

    def executions_by_ids(self, ids: Sequence[str]) -> list[ExecutionRow]:
        """The executions ``ids`` as list rows, in the order given."""
        return cluster_executions(self.db, ids)

    def _counter(self) -> QueueCounter:
        if self.queue_counter is None:
            from engine.queue import make_huey

            self.queue_counter = make_huey(self.settings)
        return self.queue_counter

    def dashboard_metrics(
        self, *, now: datetime | None = None, previous: DashboardMetrics | None = None
    ) -> DashboardMetrics:
        """Every dashboard figure (``previous``: the last refresh, to read less)."""
        return collect_dashboard(
            self.db,
            self._counter(),
            now=now or datetime.now(UTC),
            heartbeat_interval=self.settings.queue.heartbeat_interval,
            previous=previous,
        )

    def health(self) -> HealthReport:
        """Whether the database and the queue answer; never raises."""
        return check_health(self.db, self._counter())

    def list_alerts(self, *, open_only: bool = False, limit: int = 200) -> list[AlertRow]:
        """The alert history, newest first."""
        return _list_alerts(self.db, open_only=open_only, limit=limit)

    def save_workflow(
        self, document: dict[str, Any], *, actor: str, original_name: str | None
    ) -> SaveResult:
        """Save an edited definition (new when ``original_name`` is None); needs EDIT."""
        return save_edited_workflow(self.db, document, actor=actor, original_name=original_name)

    def set_workflow_enabled(self, name: str, enabled: bool, *, actor: str) -> bool:
        """Enable or disable a workflow (needs EDIT); True when that changed it."""
        return set_enabled(self.db, name, enabled, actor=actor)

    def count_workflow_executions(self, name: str) -> int:
        """How many executions deleting the workflow would remove."""
        return count_executions(self.db, name)

    def delete_workflow(self, name: str, *, actor: str) -> int:
        """Delete a workflow and its executions (needs EDIT); returns how many runs went."""
        return _delete_workflow(self.db, name, actor=actor)

    def run_workflow(self, name: str, payload: dict[str, Any], *, actor: str) -> list[str]:
        """Run a workflow now with ``payload`` as trigger data (needs OPERATE); the new ids."""
        return run_now(self.db, self.queue, name, payload, actor=actor)

    def workflow_schedules(
        self, name: str, *, after: datetime | None = None
    ) -> list[SchedulePreview]:
        """The next fire times of each schedule trigger of the workflow."""
        return schedule_preview(self.db, name, after=after)

    def workflow_document(self, name: str) -> dict[str, Any]:
        """The workflow's current definition document (what the editor opens)."""
        return export_documents(self.db, name)[0]

    def list_workflow_versions(self, name: str) -> list[VersionSummary]:
        """Every saved version of the workflow, newest first."""
        return list_versions(self.db, name)

    def diff_workflow_versions(self, name: str, old: int | None, new: int | None) -> VersionDiff:
        """Unified diff between two versions (None: the workflow as stored now)."""
        return diff_versions(self.db, name, old, new)

    def roll_back_workflow(self, name: str, version: int, *, actor: str) -> SaveResult:
        """Save an old version's definition as a new version (needs EDIT)."""
        return roll_back(self.db, name, version, actor=actor)

    def maintenance_overview(self) -> MaintenanceOverview:
        """Database size, retention settings and the backups on disk."""
        return maintenance_overview(self.db, self.settings)

    def preview_cleanup(self) -> CleanupPlan:
        """What a cleanup with the configured retention would delete (the dry run)."""
        return preview_cleanup(self.db, self.settings)

    def run_cleanup(
        self, plan: CleanupPlan, *, actor: str, progress: CleanupProgress | None = None
    ) -> CleanupResult:
        """Delete what ``plan`` counted, in batches, reporting ``progress``."""
        return cleanup_database(self.db, self.settings, plan, actor=actor, progress=progress)

    def vacuum_database(
        self, *, actor: str, progress: VacuumProgress | None = None
    ) -> VacuumResult:
        """VACUUM/ANALYZE (and REINDEX on PostgreSQL), naming each statement."""
        return vacuum_database(self.db, actor=actor, progress=progress)

    def backup_database(self, *, actor: str) -> BackupResult:
        """A backup into the backups directory."""
        return backup_database(self.db, self.settings, actor=actor)

    def restore_database(self, path: Path, *, actor: str) -> float:
        """Replace everything with a backup (refused while executions are RUNNING)."""
        return restore_database(self.db, path, actor=actor)
