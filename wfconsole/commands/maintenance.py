"""``wfconsole cleanup``: retention cleanup for cron and for people."""

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
    cleanup.add_argument(
        "--batch-size", type=_days, default=5000, metavar="N", help=argparse.SUPPRESS
    )
    common(cleanup)
    cleanup.set_defaults(handler=cleanup_command)


def cleanup_command(args: argparse.Namespace) -> int:
    """Print what goes (``--dry-run``) or delete it with progress on stderr."""
    from engine.maintenance.cleanup import plan_cleanup, run_cleanup
    from wfconsole.cli import current_user
    from wfconsole.commands.context import database_for, settings_for

    settings = settings_for(args)
    logs_days = args.logs_days or settings.retention.logs_days
    executions_days = args.executions_days or settings.retention.executions_days
    db = database_for(args, settings)
    try:
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
            batch_size=args.batch_size,
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
