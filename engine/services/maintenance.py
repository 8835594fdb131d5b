"""Maintenance as the console runs it: the overview, and each job behind a role check.

Every job needs ``Permission.EDIT`` (ADMIN), checked against the actor's stored role, and
leaves an audit row: cleanup and restore write theirs in ``engine.maintenance``; vacuum
and backup change no data but take locks, disk and time, so they are audited here.

Restore replaces every row. It is refused while any execution is RUNNING: a worker (the
console's own embedded one included) would go on writing steps and end states of runs
that the restored database does not hold, or holds in another state. PENDING runs may
still be picked up in the moments the restore takes; the sweeper sorts them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from engine.access.audit import audit_change, require_permission
from engine.access.roles import Permission
from engine.config import Settings
from engine.db import Database, current_revision, first_line
from engine.maintenance.backup import (
    NAME_SUFFIX,
    BackupError,
    BackupResult,
    backups_dir,
    create_backup,
    restore_backup,
)
from engine.maintenance.cleanup import (
    CleanupPlan,
    CleanupResult,
    Progress,
    plan_cleanup,
    run_cleanup,
)
from engine.maintenance.vacuum import Progress as VacuumProgress
from engine.maintenance.vacuum import VacuumResult, database_size, vacuum
from engine.models import ExecutionStatus, WorkflowExecution, table_of


@dataclass(frozen=True)
class BackupFile:
    """A backup file in the backups directory."""

    path: Path
    size: int
    modified_at: datetime


@dataclass(frozen=True)
class MaintenanceOverview:
    """What the maintenance screen shows before anything runs."""

    database_kind: str
    database_size: int | None
    size_error: str | None
    logs_days: int
    executions_days: int
    backups_days: int
    backups_dir: Path
    backups: list[BackupFile]


def list_backups(directory: Path) -> list[BackupFile]:
    """The ``*.backup`` files of ``directory``, newest first (none when it does not exist)."""
    if not directory.is_dir():
        return []
    files = []
    for path in directory.glob(f"*{NAME_SUFFIX}"):
        stat = path.stat()
        files.append(BackupFile(path, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
    return sorted(files, key=lambda f: (f.modified_at, f.path.name), reverse=True)


def maintenance_overview(db: Database, settings: Settings) -> MaintenanceOverview:
    """Database size, retention settings and the backups on disk."""
    size: int | None = None
    error: str | None = None
    try:
        size = database_size(db)
    except Exception as exc:  # shown on the screen; the rest of the overview stands
        error = first_line(exc)
    retention = settings.retention
    directory = backups_dir(settings)
    return MaintenanceOverview(
        database_kind=make_url(db.url).get_backend_name(),
        database_size=size,
        size_error=error,
        logs_days=retention.logs_days,
        executions_days=retention.executions_days,
        backups_days=retention.backups_days,
        backups_dir=directory,
        backups=list_backups(directory),
    )


def _require_edit(db: Database, actor: str) -> None:
    require_permission(db, actor, Permission.EDIT)


def _audit(db: Database, actor: str, action: str, details: dict[str, object]) -> None:
    audit_change(db, actor=actor, action=action, target_type="database", details=details)


def preview_cleanup(db: Database, settings: Settings) -> CleanupPlan:
    """What a cleanup with the configured retention would delete (changes nothing)."""
    retention = settings.retention
    return plan_cleanup(
        db, logs_days=retention.logs_days, executions_days=retention.executions_days
    )


def cleanup_database(
    db: Database,
    settings: Settings,
    plan: CleanupPlan,
    *,
    actor: str,
    progress: Progress | None = None,
) -> CleanupResult:
    """Delete what ``plan`` counted (needs EDIT; audited by the cleanup itself)."""
    _require_edit(db, actor)
    retention = settings.retention
    return run_cleanup(
        db,
        logs_days=retention.logs_days,
        executions_days=retention.executions_days,
        actor=actor,
        progress=progress,
        plan=plan,
    )


def vacuum_database(
    db: Database, *, actor: str, progress: VacuumProgress | None = None
) -> VacuumResult:
    """VACUUM/ANALYZE (and REINDEX on PostgreSQL); needs EDIT; audited."""
    _require_edit(db, actor)
    result = vacuum(db, progress=progress)
    _audit(db, actor, "maintenance.vacuum",
           {"size_before": result.size_before, "size_after": result.size_after})  # fmt: skip
    return result


def backup_database(
    db: Database, settings: Settings, *, actor: str, output: Path | None = None
) -> BackupResult:
    """A backup into the backups directory (older ones pruned), or to ``output``; needs
    EDIT; audited."""
    _require_edit(db, actor)
    result = create_backup(db, settings, output=output)
    _audit(db, actor, "maintenance.backup", {"file": str(result.path), "size": result.size})
    return result


def running_executions(db: Database) -> int:
    """Executions RUNNING now (``idx_execution_active``), read on the primary: a lagging
    replica could miss a run that started a moment ago."""
    status = table_of(WorkflowExecution).c.status
    with db.primary_read_engine.connect() as conn:
        query = sa.select(sa.func.count()).where(status == ExecutionStatus.RUNNING.value)
        return int(conn.execute(query).scalar_one())


def restore_database(db: Database, path: Path, *, actor: str, force: bool = True) -> float:
    """Replace everything with the backup at ``path``; needs EDIT; refused while RUNNING.

    A database that was never migrated has no users to ask and no runs to wait for, so
    neither is checked there (the disaster-recovery case: whoever reaches it owns it).
    Without ``force`` a database holding workflows or executions is refused (the console
    asks first and passes ``force``). The audit row goes into the restored database, so
    the restore itself is on record.
    """
    if current_revision(db) is not None:
        _require_edit(db, actor)
        running = running_executions(db)
        if running:
            raise BackupError(
                f"{running} execution(s) are RUNNING; restore when they have finished "
                "(stop the workers, or wait)"
            )
    seconds = restore_backup(db, path, force=force)
    _audit(db, actor, "maintenance.restore", {"file": str(path), "forced": force})
    return seconds
