"""``wfconsole cleanup`` and ``wfconsole maintenance vacuum | backup | restore``.

Each job needs ADMIN, checked against the operator's stored role as the console does
(``cleanup --dry-run`` only reads), and leaves an audit row. The queue tools of the
``maintenance`` group are in ``queue_tools``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 day")
    return value


def cleanup_command(args: argparse.Namespace) -> int:
    """Print what goes (``--dry-run``) or delete it with progress on stderr."""
    from engine.access.audit import require_permission
    from engine.access.roles import Permission
    from engine.maintenance.cleanup import DEFAULT_BATCH, plan_cleanup, run_cleanup

    settings = settings_for(args)
    logs_days = args.logs_days or settings.retention.logs_days
    executions_days = args.executions_days or settings.retention.executions_days
    with opened_database(args, settings) as db:
        if not args.dry_run:
            require_permission(db, current_user(args), Permission.EDIT)
        plan = plan_cleanup(db, logs_days=logs_days, executions_days=executions_days)
        verb = "would delete" if args.dry_run else "deleting"
        print(
            f"{verb}: log lines before {plan.logs_before:%Y-%m-%d %H:%M} UTC, "
            f"finished executions before {plan.executions_before:%Y-%m-%d %H:%M} UTC"
        )
        print(f"  workflow_execution       {plan.executions:>12,}")
        print(f"  workflow_execution_step  {plan.steps_with_them:>12,}")
        print(
            f"  workflow_execution_log   {plan.old_logs + plan.logs_with_them:>12,}"
            f"  ({plan.old_logs:,} old lines, {plan.logs_with_them:,} of those executions)"
        )
        if args.dry_run:
            return 0

        def progress(what: str, done: int, total: int) -> None:
            print(f"  {what}: {done:,} / {total:,}", file=sys.stderr, flush=True)

        result = run_cleanup(
            db,
            logs_days=logs_days,
            executions_days=executions_days,
            actor=current_user(args),
            batch_size=args.batch_size or DEFAULT_BATCH,
            progress=progress,
            plan=plan,
        )
    seconds = max(result.seconds, 1e-9)
    rows = plan.rows if result.executions_deleted == plan.executions else None
    rate = f", {rows / seconds:,.0f} rows/s" if rows else ""
    print(
        f"deleted {result.logs_deleted:,} log lines and {result.executions_deleted:,} "
        f"executions (with their steps and log lines) in {result.seconds:.1f} s{rate}"
    )
    return 0


def _size(count: int) -> str:
    """Bytes for people: 812 B, 1.5 MiB, 2.0 GiB."""
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"


def vacuum_command(args: argparse.Namespace) -> int:
    """Vacuum the configured database, naming each step on stderr."""
    from engine.services.maintenance import vacuum_database

    with opened_database(args) as db:
        result = vacuum_database(
            db,
            actor=current_user(args),
            progress=lambda step: print(f"  {step}", file=sys.stderr, flush=True),
        )
    print(
        f"vacuumed in {result.seconds:.1f} s: {_size(result.size_before)} before, "
        f"{_size(result.size_after)} after"
    )
    return 0


def backup_command(args: argparse.Namespace) -> int:
    """Write a verified backup file and say where it is."""
    from engine.maintenance.backup import BackupError
    from engine.services.maintenance import backup_database

    settings = settings_for(args)
    failures = (BackupError, OSError)
    with opened_database(args, settings, user_errors=failures, prefix="backup failed: ") as db:
        output = Path(args.output).expanduser() if args.output else None
        result = backup_database(db, settings, actor=current_user(args), output=output)
    print(f"{result.path}  {_size(result.size)} in {result.seconds:.1f} s")
    for path in result.pruned:
        print(f"pruned {path}")
    return 0


def restore_command(args: argparse.Namespace) -> int:
    """Check the file end to end, then restore it (refusing a database with data unless
    ``--force``, and any while an execution is RUNNING)."""
    from engine.maintenance.backup import BackupError
    from engine.maintenance.backup_file import BackupFileError
    from engine.services.maintenance import restore_database

    path = Path(args.file).expanduser()
    # Restore may target an empty database: it is taken as it is, not migrated first.
    failures = (BackupError, BackupFileError)
    with opened_database(args, migrate=False, user_errors=failures) as db:
        # As in the console: needs ADMIN and no RUNNING execution, except on a database
        # that was never migrated (no users to ask yet: whoever reaches it owns it).
        seconds = restore_database(db, path, actor=current_user(args), force=args.force)
    print(f"restored {path} in {seconds:.1f} s")
    return 0


COMMANDS: tuple[Row, ...] = (
    Command(
        ("cleanup",), cleanup_command,
        "delete old log lines and old finished executions (in batches)",
        (arg("--logs-days", type=_days, metavar="N"),
         arg("--executions-days", type=_days, metavar="N"),
         arg("--dry-run", action="store_true", help="print the counts, delete nothing"),
         # the most rows per batch; batches are sized by time below it
         arg("--batch-size", type=_days, default=None, metavar="N", help=argparse.SUPPRESS)),
        description="Delete log lines older than --logs-days and finished executions older "
        "than --executions-days (with their steps and log lines). PENDING and RUNNING "
        "executions are never touched. Defaults: retention.logs_days / executions_days.",
    ),
    Group("maintenance", "vacuum, backup and restore the database; the queue tools"),
    Command(("maintenance", "vacuum"), vacuum_command,
            "VACUUM/ANALYZE (and REINDEX on PostgreSQL)"),
    Command(
        ("maintenance", "backup"), backup_command,
        "back up the database (pg_dump, or SQLite's online backup)",
        (arg("-o", "--output", metavar="FILE", help="write the backup here"),),
        description="Without -o the backup goes to retention.backups_dir (default "
        "<data dir>/backups) under a timestamped name, and backups older than "
        "retention.backups_days are pruned.",
    ),
    Command(
        ("maintenance", "restore"), restore_command,
        "replace the database's contents with a backup",
        (arg("file", metavar="FILE"),
         arg("--force", action="store_true", help="restore over a database that holds data")),
        description="Checks the file end to end, then replaces every row with the backup's. "
        "Refused while any execution is RUNNING (stop the workers, or wait). Needs ADMIN, "
        "except on a database that was never migrated; audited as maintenance.restore.",
    ),
)  # fmt: skip
