"""``EngineBackend``: the console's ``ConsoleBackend`` over the engine's services.

Each method imports the service it calls when first called (on a worker thread): the
first screen loads the engine modules it needs and no others, and opening the console
does not wait for the maintenance jobs, the editor's validation or the queue's clients.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:
    from engine.alerts.incidents import AlertRow
    from engine.config import Settings
    from engine.db import Database
    from engine.deployment import Deployment
    from engine.maintenance.backup import BackupResult
    from engine.maintenance.cleanup import CleanupPlan, CleanupResult
    from engine.maintenance.cleanup import Progress as CleanupProgress
    from engine.maintenance.vacuum import Progress as VacuumProgress
    from engine.maintenance.vacuum import VacuumResult
    from engine.services.blast_radius import BlastRadius
    from engine.services.control import CancelResult
    from engine.services.dashboard import DashboardMetrics
    from engine.services.executions import Cursor, ExecutionDetail, ExecutionRow
    from engine.services.failures import ClusterKey, FailureCluster
    from engine.services.health import HealthReport
    from engine.services.maintenance import MaintenanceOverview
    from engine.services.payload_search import Where
    from engine.services.queue_tools import FlushResult, QueueReport
    from engine.services.replay import ReplayPlan
    from engine.services.run_diff import RunDiff
    from engine.services.saved_views import SavedView
    from engine.services.schedules import BackfillPlan, ScheduleStatus
    from engine.services.workflow_admin import SchedulePreview
    from engine.services.workflow_versions import VersionDiff
    from engine.services.workflows import SaveResult, VersionSummary, WorkflowSummary
    from engine.triggers.new_executions import Dispatcher
    from wfconsole.console.backend import BackendInfo

from wfconsole.console.engine_flow import FlowControlCalls

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


class EngineBackend(FlowControlCalls):
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
        self._queue = queue
        self._deployment: Deployment | None = None
        self._lock = threading.Lock()

    @property
    def deployment(self) -> Deployment:
        """The deployment (built on first use: it brings the queue's modules along)."""
        with self._lock:  # screens' workers ask at the same time: one deployment
            if self._deployment is None:
                from engine.deployment import Deployment

                self._deployment = Deployment(self.db, self.settings, queue=self._queue)
            return self._deployment

    @property
    def reads(self) -> Database:
        """The database for reads, as the deployment routes them (before the deployment is
        built this backend has changed nothing, so there is no write to read back)."""
        if self._deployment is None:
            return self.db
        return self._deployment.reads

    @property
    def queue(self) -> Dispatcher:
        """The deployment's queue, for starting runs."""
        return self.deployment.queue

    def describe(self) -> BackendInfo:
        return self.deployment.describe()

    def user_role(self, username: str) -> str:
        return self.deployment.user_role(username)

    def list_workflows(self) -> list[WorkflowSummary]:
        from engine.services.workflows import list_workflows as _list_workflows

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
        where: Where | None = None,
    ) -> list[ExecutionRow]:
        from engine.services.executions import list_executions as _list_executions

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
            where=where,
        )

    def preview_retry(self, ids: Sequence[str]) -> BlastRadius:
        from engine.services.blast_radius import preview_retry as _preview_retry

        return _preview_retry(self.reads, ids)

    def preview_cancel(self, ids: Sequence[str]) -> BlastRadius:
        from engine.services.blast_radius import preview_cancel as _preview_cancel

        return _preview_cancel(self.reads, ids)

    @_changes
    def retry_executions(self, ids: Sequence[str], *, actor: str) -> list[str]:
        from engine.services.control import retry_executions as _retry_executions

        return _retry_executions(
            self.db, self.queue, ids, actor=actor, strict=False, check_role=True
        )

    @_changes
    def cancel_executions(self, ids: Sequence[str], *, actor: str) -> list[CancelResult]:
        from engine.services.control import cancel_executions as _cancel_executions

        return _cancel_executions(self.db, ids, actor=actor, check_role=True)

    def get_execution(self, execution_id: str) -> ExecutionDetail:
        from engine.services.executions import get_execution as _get_execution

        return _get_execution(self.reads, execution_id)

    def diff_executions(self, execution_id: str, against: str | None = None) -> RunDiff:
        from engine.services.run_diff import diff_executions as _diff_executions

        return _diff_executions(self.reads, execution_id, against)

    def replay_executions(
        self,
        ids: Sequence[str],
        *,
        from_step: int | None = None,
        version: str = "original",
        patches: Sequence[str] = (),
        dry_run: bool = False,
        actor: str,
    ) -> list[ReplayPlan]:
        from engine.services.replay import Patch, ReplayRefused
        from engine.services.replay import replay_executions as _replay_executions

        if version not in ("original", "latest"):
            raise ReplayRefused(f"version {version!r}: original or latest", "version")
        try:
            return _replay_executions(
                self.db, self.queue, ids, from_step=from_step,
                version="latest" if version == "latest" else "original",
                patches=[Patch.parse(text) for text in patches], dry_run=dry_run, actor=actor,
            )  # fmt: skip
        finally:
            if not dry_run:  # a preview writes nothing: reads may stay on the replica
                self.deployment.wrote()

    def saved_views(self) -> list[SavedView]:
        from engine.services.saved_views import load_views

        return load_views()

    def failure_clusters(self, *, since: datetime, limit: int = 500) -> list[FailureCluster]:
        from engine.services.failures import list_failure_clusters

        return list_failure_clusters(self.reads, since=since, limit=limit)

    def failure_cluster_ids(self, key: ClusterKey, *, since: datetime) -> list[str]:
        from engine.services.failures import cluster_execution_ids

        return cluster_execution_ids(self.reads, key, since=since)

    def executions_by_ids(self, ids: Sequence[str]) -> list[ExecutionRow]:
        from engine.services.failures import cluster_executions

        return cluster_executions(self.reads, ids)

    def dashboard_metrics(
        self, *, now: datetime | None = None, previous: DashboardMetrics | None = None
    ) -> DashboardMetrics:
        from engine.services.dashboard import collect_dashboard

        return collect_dashboard(
            self.reads,
            self.deployment.queue_counter(),
            now=now or datetime.now(UTC),
            heartbeat_interval=self.settings.queue.heartbeat_interval,
            previous=previous,
        )

    def health(self) -> HealthReport:
        from engine.services.health import check_health

        return check_health(self.db, self.deployment.queue_counter())

    def list_alerts(self, *, open_only: bool = False, limit: int = 200) -> list[AlertRow]:
        from engine.alerts.incidents import list_alerts as _list_alerts

        return _list_alerts(self.reads, open_only=open_only, limit=limit)

    @_changes
    def save_workflow(
        self, document: dict[str, Any], *, actor: str, original_name: str | None
    ) -> SaveResult:
        from engine.services.workflow_editing import save_edited_workflow

        return save_edited_workflow(self.db, document, actor=actor, original_name=original_name)

    @_changes
    def set_workflow_enabled(self, name: str, enabled: bool, *, actor: str) -> bool:
        from engine.services.workflow_admin import set_enabled

        return set_enabled(self.db, name, enabled, actor=actor)

    def count_workflow_executions(self, name: str) -> int:
        from engine.services.workflow_admin import count_executions

        return count_executions(self.reads, name)

    @_changes
    def delete_workflow(self, name: str, *, actor: str) -> int:
        from engine.services.workflow_admin import delete_workflow as _delete_workflow

        return _delete_workflow(self.db, name, actor=actor)

    @_changes
    def run_workflow(self, name: str, payload: dict[str, Any], *, actor: str) -> list[str]:
        from engine.services.workflow_admin import run_now

        return run_now(self.db, self.queue, name, payload, actor=actor)

    def workflow_schedules(
        self, name: str, *, after: datetime | None = None
    ) -> list[SchedulePreview]:
        from engine.services.workflow_admin import schedule_preview

        return schedule_preview(self.reads, name, after=after)

    def schedule_board(self, *, now: datetime | None = None) -> list[ScheduleStatus]:
        from engine.services.schedules import schedule_board as _schedule_board

        return _schedule_board(self.reads, now=now)

    @_changes
    def backfill_schedule(
        self,
        name: str,
        *,
        since: datetime,
        until: datetime,
        dry_run: bool,
        actor: str,
        now: datetime | None = None,
    ) -> BackfillPlan:
        from engine.services.schedules import backfill

        # The preview reads the primary too: what it lists is what the backfill will check.
        return backfill(
            self.db, self.queue, name, since=since, until=until, dry_run=dry_run, actor=actor,
            now=now,
        )  # fmt: skip

    def workflow_document(self, name: str) -> dict[str, Any]:
        from engine.services.workflows import export_documents

        return export_documents(self.reads, name)[0]

    def list_workflow_versions(self, name: str) -> list[VersionSummary]:
        from engine.services.workflows import list_versions

        return list_versions(self.reads, name)

    def diff_workflow_versions(self, name: str, old: int | None, new: int | None) -> VersionDiff:
        from engine.services.workflow_versions import diff_versions

        return diff_versions(self.reads, name, old, new)

    @_changes
    def roll_back_workflow(self, name: str, version: int, *, actor: str) -> SaveResult:
        from engine.services.workflow_versions import roll_back

        return roll_back(self.db, name, version, actor=actor)

    def maintenance_overview(self) -> MaintenanceOverview:
        from engine.services.maintenance import maintenance_overview

        return maintenance_overview(self.reads, self.settings)

    def preview_cleanup(self) -> CleanupPlan:
        from engine.services.maintenance import preview_cleanup

        return preview_cleanup(self.reads, self.settings)

    @_changes
    def run_cleanup(
        self, plan: CleanupPlan, *, actor: str, progress: CleanupProgress | None = None
    ) -> CleanupResult:
        from engine.services.maintenance import cleanup_database

        return cleanup_database(self.db, self.settings, plan, actor=actor, progress=progress)

    @_changes
    def vacuum_database(
        self, *, actor: str, progress: VacuumProgress | None = None
    ) -> VacuumResult:
        from engine.services.maintenance import vacuum_database

        return vacuum_database(self.db, actor=actor, progress=progress)

    @_changes
    def backup_database(self, *, actor: str) -> BackupResult:
        from engine.services.maintenance import backup_database

        return backup_database(self.db, self.settings, actor=actor)

    @_changes
    def restore_database(self, path: Path, *, actor: str) -> float:
        from engine.services.maintenance import restore_database

        return restore_database(self.db, path, actor=actor)

    def health_checks(self) -> dict[str, Any]:
        from engine.http.health import health_document

        return health_document(self.db, self.deployment.queue_counter().pending_count)

    def queue_report(self) -> QueueReport:
        from engine.services.queue_tools import inspect_queue

        return inspect_queue(
            self.reads,
            self.deployment.queue_storage(),
            heartbeat_interval=self.settings.queue.heartbeat_interval,
        )

    @_changes
    def flush_stale_locks(self, plan: QueueReport, *, actor: str) -> FlushResult:
        from engine.services.queue_tools import flush_stale_locks as _flush_stale_locks

        return _flush_stale_locks(
            self.db,
            self.deployment.queue_storage(),
            self.queue,
            plan,
            actor=actor,
            heartbeat_interval=self.settings.queue.heartbeat_interval,
        )
