"""What the console's screens call: ``ConsoleBackend``, the contract written once.

Screens depend on this protocol only, so tests can hand the app a fake; the console never
builds SQL or touches the queue's storage itself. ``EngineBackend``
(``wfconsole.console.engine_backend``) implements it over the engine's services.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from engine.alerts.incidents import AlertRow
    from engine.deployment import DeploymentInfo as BackendInfo
    from engine.maintenance.backup import BackupResult
    from engine.maintenance.cleanup import CleanupPlan, CleanupResult
    from engine.maintenance.cleanup import Progress as CleanupProgress
    from engine.maintenance.vacuum import Progress as VacuumProgress
    from engine.maintenance.vacuum import VacuumResult
    from engine.services.blast_radius import BlastRadius
    from engine.services.control import CancelResult
    from engine.services.dashboard import DashboardMetrics
    from engine.services.destinations import (
        DestinationFigures,
        HoldResult,
        ReleasePreview,
        ReleaseResult,
    )
    from engine.services.executions import Cursor, ExecutionDetail, ExecutionRow
    from engine.services.failures import ClusterKey, FailureCluster
    from engine.services.flow_control import HeldSummary, PauseResult, ResumeResult
    from engine.services.flow_limits import LimitState
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


class RefreshSettings(Protocol):
    """The console's settings (``engine.config.ConsoleSettings``, or the same read plainly
    before pydantic has loaded)."""

    @property
    def refresh_interval(self) -> float:
        """Seconds between live refreshes."""
        ...


class BackendUnavailable(Exception):
    """The backend could not be opened at all (say, an un-migrated database): the console
    cannot run, and whoever opened it tells the operator why."""


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
        where: Where | None = None,
    ) -> list[ExecutionRow]:
        """One page of executions, newest first; ``after`` continues past a cursor;
        ``where`` is a parsed payload search (``engine.services.payload_search``)."""
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

    def diff_executions(self, execution_id: str, against: str | None = None) -> RunDiff:
        """``execution_id`` (left) beside ``against`` (right; None: the newest other SUCCESS
        of its workflow); raises ``NothingToCompare`` or ``ExecutionNotFound``."""
        ...

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
        """Replay ``ids`` from ``from_step`` (None: the step each failed at) on the
        ``original`` or ``latest`` definition, trigger data patched by ``PATH=VALUE`` texts
        (needs OPERATE; audited); ``dry_run`` only plans. Raises ``ReplayRefused``,
        ``PermissionDenied``, ``ExecutionNotFound`` or ``WorkflowDisabled``."""
        ...

    def saved_views(self) -> list[SavedView]:
        """The saved execution filters (``wfconsole views save``), by name."""
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

    def schedule_board(self, *, now: datetime | None = None) -> list[ScheduleStatus]:
        """Every schedule trigger: next fire, last run, last success, and the fire times of
        the last 24 h that have no run (gaps) or started late."""
        ...

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
        """One run per fire time of the workflow's schedules in ``[since, until]`` that has
        none (``dry_run``: only say which); needs OPERATE, audited."""
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

    def health_checks(self) -> dict[str, Any]:
        """The ``GET /health`` document (what ``wfconsole health`` prints); never raises."""
        ...

    def queue_report(self) -> QueueReport:
        """Queue messages, PENDING/RUNNING executions, workers and the stale locks."""
        ...

    def flush_stale_locks(self, plan: QueueReport, *, actor: str) -> FlushResult:
        """Release what ``plan`` listed as stale and still is (needs EDIT; audited)."""
        ...

    # --- flow control (pause/resume: OPERATE; limits: EDIT; all audited) ---------------

    def held_summary(self, name: str) -> HeldSummary:
        """The workflow's pause state, its held runs and what each catch-up would do."""
        ...

    def paused_workflows(self) -> list[HeldSummary]:
        """Every paused workflow with its held runs, by name (the dashboard's banner)."""
        ...

    def pause_workflow(self, name: str, *, for_: str | None, actor: str) -> PauseResult:
        """Pause a workflow (``for_``: a DURATION after which it resumes by itself)."""
        ...

    def resume_workflow(self, name: str, *, catch_up: str, actor: str) -> ResumeResult:
        """Resume with ``all`` | ``latest`` | ``skip`` | ``spread:DURATION``."""
        ...

    def workflow_limits(self, name: str) -> LimitState:
        """The workflow's limits in force, from its definition and the override."""
        ...

    def set_workflow_limit(
        self,
        name: str,
        *,
        concurrency: str | None,
        rate: str | None,
        for_: str | None,
        actor: str,
    ) -> LimitState:
        """Override the concurrency and/or rate (``N/s``, ``N/m``), until ``for_`` is up."""
        ...

    def clear_workflow_limit(self, name: str, *, actor: str) -> LimitState:
        """Drop the override: the definition's limits apply again."""
        ...

    # --- destinations (the outbound section; hold and release need OPERATE) ------------

    def destination_board(self, *, window: str) -> list[DestinationFigures]:
        """Every destination's figures over ``5m`` | ``1h`` | ``24h``, busiest first."""
        ...

    def hold_destination(
        self, destination: str, *, for_: timedelta | None, actor: str
    ) -> HoldResult:
        """Hold ``HOST[:PORT]``: its steps wait (no failure, no retry spent) until release."""
        ...

    def preview_release(self, destination: str) -> ReleasePreview:
        """What releasing ``destination`` would send now."""
        ...

    def release_destination(self, destination: str, *, actor: str) -> ReleaseResult:
        """End the hold and send the runs waiting for ``destination``."""
        ...


def answer_now(backend: ConsoleBackend, method: str, **query: Any) -> Any:
    """What ``backend`` can answer to ``method`` without blocking (``OpeningBackend``'s
    early answers, a few milliseconds of SQLite), or None: ask it from a worker then."""
    answer = getattr(backend, "answer_now", None)
    return answer(method, **query) if callable(answer) else None
