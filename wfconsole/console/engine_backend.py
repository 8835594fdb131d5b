"""``EngineBackend``: the console's ``ConsoleBackend`` over the engine's services."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from engine.alerts.incidents import AlertRow
from engine.alerts.incidents import list_alerts as _list_alerts
from engine.config import Settings
from engine.db import Database
from engine.deployment import Deployment
from engine.http.health import health_document
from engine.maintenance.backup import BackupResult
from engine.maintenance.cleanup import CleanupPlan, CleanupResult
from engine.maintenance.cleanup import Progress as CleanupProgress
from engine.maintenance.vacuum import Progress as VacuumProgress
from engine.maintenance.vacuum import VacuumResult
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
from engine.services.queue_tools import FlushResult, QueueReport, inspect_queue
from engine.services.queue_tools import flush_stale_locks as _flush_stale_locks
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
from engine.triggers.new_executions import Dispatcher
from wfconsole.console.backend import BackendInfo

P = ParamSpec("P")
R = TypeVar("R")


def _changes(
    method: Callable[Concatenate[EngineBackend, P], R],
) -> Callable[Concatenate[EngineBackend, P], R]:
    """Mark a method that writes: the backend's reads go to the primary for a while after."""

    @functools.wraps(method)
    def changing(self: EngineBackend, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        finally:
            self.deployment.wrote()

    return changing


class EngineBackend:
    """``ConsoleBackend`` over the engine's service functions and one open database.

    Each public method is the protocol's method of the same name, documented there.

    Routing (reads on the replica, on the primary right after this console's own change)
    and the queue are the engine's: ``engine.deployment.Deployment``.
    """

    def __init__(
        self, db: Database, settings: Settings, *, queue: Dispatcher | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.deployment = Deployment(db, settings, queue=queue)

    @property
    def reads(self) -> Database:
        """The database for reads, as the deployment routes them."""
        return self.deployment.reads

    @property
    def queue(self) -> Dispatcher:
        """The deployment's queue, for starting runs."""
        return self.deployment.queue

    def describe(self) -> BackendInfo:
        return self.deployment.describe()

    def user_role(self, username: str) -> str:
        return self.deployment.user_role(username)

    def list_workflows(self) -> list[WorkflowSummary]:
        return _list_workflows(self.reads)

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
        return _list_executions(
            self.reads,
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
        return _preview_retry(self.reads, ids)

    def preview_cancel(self, ids: Sequence[str]) -> BlastRadius:
        return _preview_cancel(self.reads, ids)

    @_changes
    def retry_executions(self, ids: Sequence[str], *, actor: str) -> list[str]:
        return _retry_executions(
            self.db, self.queue, ids, actor=actor, strict=False, check_role=True
        )

    @_changes
    def cancel_executions(self, ids: Sequence[str], *, actor: str) -> list[CancelResult]:
        return _cancel_executions(self.db, ids, actor=actor, check_role=True)

    def get_execution(self, execution_id: str) -> ExecutionDetail:
        return _get_execution(self.reads, execution_id)

    def failure_clusters(self, *, since: datetime, limit: int = 500) -> list[FailureCluster]:
        return list_failure_clusters(self.reads, since=since, limit=limit)

    def failure_cluster_ids(self, key: ClusterKey, *, since: datetime) -> list[str]:
        return cluster_execution_ids(self.reads, key, since=since)

    def executions_by_ids(self, ids: Sequence[str]) -> list[ExecutionRow]:
        return cluster_executions(self.reads, ids)

    def dashboard_metrics(
        self, *, now: datetime | None = None, previous: DashboardMetrics | None = None
    ) -> DashboardMetrics:
        return collect_dashboard(
            self.reads,
            self.deployment.queue_counter(),
            now=now or datetime.now(UTC),
            heartbeat_interval=self.settings.queue.heartbeat_interval,
            previous=previous,
        )

    def health(self) -> HealthReport:
        return check_health(self.db, self.deployment.queue_counter())

    def list_alerts(self, *, open_only: bool = False, limit: int = 200) -> list[AlertRow]:
        return _list_alerts(self.reads, open_only=open_only, limit=limit)

    @_changes
    def save_workflow(
        self, document: dict[str, Any], *, actor: str, original_name: str | None
    ) -> SaveResult:
        return save_edited_workflow(self.db, document, actor=actor, original_name=original_name)

    @_changes
    def set_workflow_enabled(self, name: str, enabled: bool, *, actor: str) -> bool:
        return set_enabled(self.db, name, enabled, actor=actor)

    def count_workflow_executions(self, name: str) -> int:
        return count_executions(self.reads, name)

    @_changes
    def delete_workflow(self, name: str, *, actor: str) -> int:
        return _delete_workflow(self.db, name, actor=actor)

    @_changes
    def run_workflow(self, name: str, payload: dict[str, Any], *, actor: str) -> list[str]:
        return run_now(self.db, self.queue, name, payload, actor=actor)

    def workflow_schedules(
        self, name: str, *, after: datetime | None = None
    ) -> list[SchedulePreview]:
        return schedule_preview(self.reads, name, after=after)

    def workflow_document(self, name: str) -> dict[str, Any]:
        return export_documents(self.reads, name)[0]

    def list_workflow_versions(self, name: str) -> list[VersionSummary]:
        return list_versions(self.reads, name)

    def diff_workflow_versions(self, name: str, old: int | None, new: int | None) -> VersionDiff:
        return diff_versions(self.reads, name, old, new)

    @_changes
    def roll_back_workflow(self, name: str, version: int, *, actor: str) -> SaveResult:
        return roll_back(self.db, name, version, actor=actor)

    def maintenance_overview(self) -> MaintenanceOverview:
        return maintenance_overview(self.reads, self.settings)

    def preview_cleanup(self) -> CleanupPlan:
        return preview_cleanup(self.reads, self.settings)

    @_changes
    def run_cleanup(
        self, plan: CleanupPlan, *, actor: str, progress: CleanupProgress | None = None
    ) -> CleanupResult:
        return cleanup_database(self.db, self.settings, plan, actor=actor, progress=progress)

    @_changes
    def vacuum_database(
        self, *, actor: str, progress: VacuumProgress | None = None
    ) -> VacuumResult:
        return vacuum_database(self.db, actor=actor, progress=progress)

    @_changes
    def backup_database(self, *, actor: str) -> BackupResult:
        return backup_database(self.db, self.settings, actor=actor)

    @_changes
    def restore_database(self, path: Path, *, actor: str) -> float:
        return restore_database(self.db, path, actor=actor)

    def health_checks(self) -> dict[str, Any]:
        return health_document(self.db, self.deployment.queue_counter().pending_count)

    def queue_report(self) -> QueueReport:
        return inspect_queue(
            self.reads,
            self.deployment.queue_storage(),
            heartbeat_interval=self.settings.queue.heartbeat_interval,
        )

    @_changes
    def flush_stale_locks(self, plan: QueueReport, *, actor: str) -> FlushResult:
        return _flush_stale_locks(
            self.db,
            self.deployment.queue_storage(),
            self.queue,
            plan,
            actor=actor,
            heartbeat_interval=self.settings.queue.heartbeat_interval,
        )
