"""``wfconsole cleanup`` and ``wfconsole maintenance vacuum | backup | restore``.

Each job needs ADMIN, checked against the operator's stored role as the console does
(``cleanup --dry-run`` only reads), and leaves an audit row.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from wfconsole.commands import CommonOptions


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 day")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(commands: Any, common: CommonOptions) -> None:
    """Add ``cleanup``."""
    cleanup = commands.add_parser(
        "cleanup",
        help="delete old log lines and old finished executions (in batches)",
        description="Delete log lines older than --logs-days and finished executions older "
        "than --executions-days (with their steps and log lines). PENDING and RUNNING "
        "executions are never touched. Defaults: retention.logs_days / executions_days.",
    )
    cleanup.add_argument("--logs-days", type=_days, metavar="N")
    cleanup.add_argument("--executions-days", type=_days, metavar="N")
    cleanup.add_argument("--dry-run", action="store_true", help="print the counts, delete nothing")
    cleanup.add_argument(  # the most rows per batch; batches are sized by time below it
        "--batch-size", type=_days, default=None, metavar="N", help=argparse.SUPPRESS
    )
    common(cleanup)
    cleanup.set_defaults(handler=cleanup_command)

    group = commands.add_parser(
        "maintenance", help="vacuum, backup and restore the database; the queue tools"
    )
    sub = group.add_subparsers(dest="maintenance_command", metavar="COMMAND", required=True)
    vacuum = sub.add_parser("vacuum", help="VACUUM/ANALYZE (and REINDEX on PostgreSQL)")
    common(vacuum)
    vacuum.set_defaults(handler=vacuum_command)
    backup = sub.add_parser(
        "backup",
        help="back up the database (pg_dump, or SQLite's online backup)",
        description="Without -o the backup goes to retention.backups_dir (default "
        "<data dir>/backups) under a timestamped name, and backups older than "
        "retention.backups_days are pruned.",
    )
    backup.add_argument("-o", "--output", metavar="FILE", help="write the backup here")
    common(backup)
    backup.set_defaults(handler=backup_command)
    restore = sub.add_parser(
        "restore",
        help="replace the database's contents with a backup",
        description="Checks the file end to end, then replaces every row with the backup's. "
        "Refused while any execution is RUNNING (stop the workers, or wait). Needs ADMIN, "
        "except on a database that was never migrated; audited as maintenance.restore.",
    )
    restore.add_argument("file", metavar="FILE")
    restore.add_argument(
        "--force", action="store_true", help="restore over a database that holds data"
    )
    common(restore)
    restore.set_defaults(handler=restore_command)
    from wfconsole.commands import queue_tools

    queue_tools.register(sub, common)


def cleanup_command(args: argparse.Namespace) -> int:
    """Print what goes (``--dry-run``) or delete it with progress on stderr."""
    from engine.access.audit import require_permission
    from engine.access.roles import Permission
    from engine.maintenance.cleanup import DEFAULT_BATCH, plan_cleanup, run_cleanup
    from wfconsole.cli import current_user
    from wfconsole.commands.context import database_for, settings_for

    settings = settings_for(args)
    logs_days = args.logs_days or settings.retention.logs_days
    executions_days = args.executions_days or settings.retention.executions_days
    db = database_for(args, settings)
    try:
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
    finally:
        db.dispose()
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
    from wfconsole.cli import current_user
    from wfconsole.commands.context import database_for

    db = database_for(args)
    try:
        result = vacuum_database(
            db,
            actor=current_user(args),
            progress=lambda step: print(f"  {step}", file=sys.stderr, flush=True),
        )
    finally:
        db.dispose()
    print(
        f"vacuumed in {result.seconds:.1f} s: {_size(result.size_before)} before, "
        f"{_size(result.size_after)} after"
    )
    return 0


def backup_command(args: argparse.Namespace) -> int:
    """Write a verified backup file and say where it is."""
    from pathlib import Path

    from engine.maintenance.backup import BackupError
    from engine.services.maintenance import backup_database
    from wfconsole.cli import UserError, current_user
    from wfconsole.commands.context import database_for, settings_for

    settings = settings_for(args)
    db = database_for(args, settings)
    try:
        output = Path(args.output).expanduser() if args.output else None
        result = backup_database(db, settings, actor=current_user(args), output=output)
    except (BackupError, OSError) as exc:
        raise UserError(f"backup failed: {exc}") from None
    finally:
        db.dispose()
    print(f"{result.path}  {_size(result.size)} in {result.seconds:.1f} s")
    for path in result.pruned:
        print(f"pruned {path}")
    return 0


def restore_command(args: argparse.Namespace) -> int:
    """Check the file end to end, then restore it (refusing a database with data unless
    ``--force``, and any while an execution is RUNNING)."""
    from pathlib import Path

    from engine.db import connect_database
    from engine.maintenance.backup import BackupError
    from engine.maintenance.backup_file import BackupFileError
    from engine.services.maintenance import restore_database
    from wfconsole.cli import UserError, current_user
    from wfconsole.commands.context import settings_for

    path = Path(args.file).expanduser()
    db = connect_database(settings_for(args))  # restore may target an empty database
    try:
        # As in the console: needs ADMIN and no RUNNING execution, except on a database
        # that was never migrated (no users to ask yet: whoever reaches it owns it).
        seconds = restore_database(db, path, actor=current_user(args), force=args.force)
    except (BackupError, BackupFileError) as exc:
        raise UserError(str(exc)) from None
    finally:
        db.dispose()
    print(f"restored {path} in {seconds:.1f} s")
    return 0
