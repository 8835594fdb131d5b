"""``wfconsole executions list | retry | cancel``; retry and cancel need OPERATOR."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for
from wfconsole.cli.errors import UserError
from wfconsole.cli.output import print_table, timestamp
from wfconsole.cli.paging import (
    limit_arguments,
    output_arguments,
    page_limit,
    print_json_array,
    print_jsonl,
)
from wfconsole.cli.plain import plain_reader

if TYPE_CHECKING:
    from engine.plain_reads.executions import ExecutionRow

DEFAULT_LIMIT = 50
STATUSES = ("PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED", "SKIPPED")


def _where(text: str) -> Any:
    """``--where EXPR``: parsed here, so a malformed one is an argparse error naming it."""
    from engine.services.payload_search import WhereError, parse_where

    try:
        return parse_where(text)
    except WhereError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def list_command(args: argparse.Namespace) -> int:
    """Print executions as a table, the contract's JSON array, or JSON lines: exactly
    ``--limit`` rows when that many exist (every one with ``--all``), streamed page by page.

    Without ``--where`` the plain read answers when it can (``wfconsole.cli.plain``)."""
    limit = page_limit(args, DEFAULT_LIMIT)
    if args.where is None:
        with plain_reader(args) as plain:
            if plain is not None:
                from engine.plain_reads.executions import ExecutionNotFound, iter_executions

                reader, _ = plain
                try:
                    return _print_executions(args, iter_executions(
                        reader, limit=limit, before=args.before, after=args.after,
                        status=args.status, workflow=args.workflow,
                    ))  # fmt: skip
                except ExecutionNotFound as exc:
                    raise UserError(str(exc)) from None
    from engine.services.executions import (
        ExecutionNotFound,
        SearchTooBroad,
    )
    from engine.services.executions import (
        iter_executions as iter_all,
    )

    with opened_database(args, user_errors=(ExecutionNotFound, SearchTooBroad)) as db:
        return _print_executions(args, iter_all(
            db, limit=limit, before=args.before, after=args.after,
            status=args.status, workflow=args.workflow, where=args.where,
        ))  # fmt: skip


def _print_executions(args: argparse.Namespace, found: Iterator[ExecutionRow]) -> int:
    if args.jsonl:
        print_jsonl(row.as_json() for row in found)
        return 0
    if args.json:
        print_json_array(row.as_json() for row in found)
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
            for r in found
        ],
    )
    return 0


def retry_command(args: argparse.Namespace) -> int:
    """Put executions back to PENDING and enqueue them."""
    from engine.services.control import NotRetryable, retry_executions
    from engine.services.executions import ExecutionNotFound
    from engine.workers.runtime import Queue

    if bool(args.ids) == bool(args.failed):
        raise UserError("give execution ids or --failed (not both)")
    if args.workflow and not args.failed:
        raise UserError("--workflow only applies with --failed")
    settings = settings_for(args)
    refusals = (ExecutionNotFound, NotRetryable)
    with opened_database(args, settings, user_errors=refusals) as db:
        retried = retry_executions(
            db,
            Queue(settings, db=db),
            args.ids,
            failed=args.failed,
            workflow=args.workflow,
            actor=current_user(args),
            check_role=True,
        )
    for execution_id in retried:
        print(f"{execution_id}: retrying")
    if not retried:
        print("nothing to retry")
    return 0


def cancel_command(args: argparse.Namespace) -> int:
    """Cancel executions; RUNNING ones stop before their next step."""
    from engine.services.control import cancel_executions
    from engine.services.executions import ExecutionNotFound

    with opened_database(args, user_errors=(ExecutionNotFound,)) as db:
        results = cancel_executions(db, args.ids, actor=current_user(args), check_role=True)
    for result in results:
        print(f"{result.id}: {result.outcome}")
    return 0


COMMANDS: tuple[Row, ...] = (
    Group("executions", "list, retry and cancel executions"),
    Command(
        ("executions", "list"), list_command, "executions, newest first",
        (arg("--status", type=str.upper, choices=STATUSES),
         arg("--workflow", metavar="NAME"),
         *limit_arguments(DEFAULT_LIMIT, "executions"),
         arg("--before", metavar="ID", help="continue after ID: older executions"),
         arg("--after", metavar="ID", help="executions created after ID, oldest first"),
         arg("--where", metavar="EXPR", type=_where,
             help="payload search: PATH OP VALUE joined by and/or, e.g. "
             "'trigger.order = o2 and trigger.amount > 500' (paths trigger., result., error)"),
         *output_arguments()),
    ),
    Command(
        ("executions", "retry"), retry_command, "retry FAILED (or CANCELLED) executions",
        (arg("ids", nargs="*", metavar="ID"),
         arg("--failed", action="store_true", help="every FAILED execution"),
         arg("--workflow", metavar="NAME", help="with --failed: only this workflow")),
    ),
    Command(
        ("executions", "cancel"), cancel_command, "cancel PENDING or RUNNING executions",
        (arg("ids", nargs="+", metavar="ID"),),
    ),
)  # fmt: skip
