"""``wfconsole executions list | retry | cancel``; retry and cancel need OPERATOR."""

from __future__ import annotations

import argparse
import json
from typing import Any

from wfconsole.commands import CommonOptions

STATUSES = ("PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED", "SKIPPED")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(commands: Any, common: CommonOptions) -> None:
    """Add the ``executions`` group."""
    group = commands.add_parser("executions", help="list, retry and cancel executions")
    sub = group.add_subparsers(dest="executions_command", metavar="COMMAND", required=True)

    listing = sub.add_parser("list", help="executions, newest first")
    listing.add_argument("--status", type=str.upper, choices=STATUSES)
    listing.add_argument("--workflow", metavar="NAME")
    listing.add_argument("--limit", type=_positive, default=50, metavar="N")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    common(listing)
    listing.set_defaults(handler=list_command)

    retry = sub.add_parser("retry", help="retry FAILED (or CANCELLED) executions")
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--failed", action="store_true", help="every FAILED execution")
    retry.add_argument("--workflow", metavar="NAME", help="with --failed: only this workflow")
    common(retry)
    retry.set_defaults(handler=retry_command)

    cancel = sub.add_parser("cancel", help="cancel PENDING or RUNNING executions")
    cancel.add_argument("ids", nargs="+", metavar="ID")
    common(cancel)
    cancel.set_defaults(handler=cancel_command)


def list_command(args: argparse.Namespace) -> int:
    """Print executions as a table or the contract's JSON array."""
    from engine.services.executions import list_executions
    from wfconsole.commands.context import database_for
    from wfconsole.commands.output import print_table, timestamp

    db = database_for(args)
    try:
        rows = list_executions(db, status=args.status, workflow=args.workflow, limit=args.limit)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2))
        return 0
    print_table(
        ["ID", "WORKFLOW", "STATUS", "TRIGGER", "CREATED", "MS", "RETRIES", "ERROR"],
        [
            [
                r.id,
                r.workflow,
                r.status,
                r.trigger_type,
                timestamp(r.created_at) or "",
                "" if r.duration_ms is None else f"{r.duration_ms:.0f}",
                str(r.retry_count),
                (r.error or "")[:60],
            ]
            for r in rows
        ],
    )
    return 0


def retry_command(args: argparse.Namespace) -> int:
    """Put executions back to PENDING and enqueue them."""
    from engine.services.control import NotRetryable, retry_executions
    from engine.services.executions import ExecutionNotFound
    from engine.workers.runtime import Queue
    from wfconsole.cli import UserError, current_user
    from wfconsole.commands.context import database_for, settings_for

    if bool(args.ids) == bool(args.failed):
        raise UserError("give execution ids or --failed (not both)")
    if args.workflow and not args.failed:
        raise UserError("--workflow only applies with --failed")
    settings = settings_for(args)
    db = database_for(args, settings)
    try:
        retried = retry_executions(
            db,
            Queue(settings, db=db),
            args.ids,
            failed=args.failed,
            workflow=args.workflow,
            actor=current_user(args),
            check_role=True,
        )
    except (ExecutionNotFound, NotRetryable) as exc:
        raise UserError(str(exc)) from None
    finally:
        db.dispose()
    for execution_id in retried:
        print(f"{execution_id}: retrying")
    if not retried:
        print("nothing to retry")
    return 0


def cancel_command(args: argparse.Namespace) -> int:
    """Cancel executions; RUNNING ones stop before their next step."""
    from engine.services.control import cancel_executions
    from engine.services.executions import ExecutionNotFound
    from wfconsole.cli import UserError, current_user
    from wfconsole.commands.context import database_for

    db = database_for(args)
    try:
        results = cancel_executions(db, args.ids, actor=current_user(args), check_role=True)
    except ExecutionNotFound as exc:
        raise UserError(str(exc)) from None
    finally:
        db.dispose()
    for result in results:
        print(f"{result.id}: {result.outcome}")
    return 0
