"""``wfconsole workflow pause | resume | limit``: flow control of one workflow.

A paused workflow still accepts triggers and holds their runs; ``resume`` applies a
catch-up policy to them. ``limit`` overrides the definition's concurrency and rate limits
(until ``--for`` is up, or ``--clear``). Pause and resume need OPERATOR, limits ADMIN;
the engine checks the stored role and writes the audit row.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for
from wfconsole.cli.errors import UserError
from wfconsole.cli.output import timestamp

if TYPE_CHECKING:
    pass

NAME = arg("name", metavar="NAME")
JSON_OUTPUT = arg("--json", action="store_true", help="machine-readable output")


def _user_errors() -> tuple[type[Exception], ...]:
    from engine.services.flow_control import FlowControlError

    return (FlowControlError,)


def _when(value: datetime | None) -> str:
    return timestamp(value) or ""


def pause_command(args: argparse.Namespace) -> int:
    """Pause a workflow: its triggers are accepted and their runs held."""
    from engine.services.flow_control import (
        FlowControlError,
        duration_argument,
        parse_catch_up,
        pause,
    )

    try:  # refused before anything opens
        duration = duration_argument(args.for_, "for")
        if args.catch_up is not None:
            parse_catch_up(args.catch_up)
    except FlowControlError as exc:
        raise UserError(str(exc)) from None
    with opened_database(args, user_errors=_user_errors()) as db:
        result = pause(db, args.name, actor=current_user(args), for_=duration,
                       catch_up=args.catch_up)  # fmt: skip
    if args.json:
        print(json.dumps({
            "workflow": result.workflow, "paused": True, "changed": result.changed,
            "paused_at": timestamp(result.paused_at),
            "paused_until": timestamp(result.paused_until), "catch_up": result.catch_up,
        }))  # fmt: skip
        return 0
    state = "paused" if result.changed else "already paused"
    if result.paused_until is not None:
        state += f" until {_when(result.paused_until)} (then resumes: {result.catch_up})"
    print(f"{result.workflow}: {state}")
    return 0


def resume_command(args: argparse.Namespace) -> int:
    """Resume a paused workflow and apply the catch-up policy to its held runs."""
    from engine.services.flow_control import FlowControlError, parse_catch_up, resume
    from engine.workers.runtime import Queue

    try:
        parse_catch_up(args.catch_up)  # a bad policy is refused before anything opens
    except FlowControlError as exc:
        raise UserError(str(exc)) from None
    settings = settings_for(args)
    with opened_database(args, settings, user_errors=_user_errors()) as db:
        result = resume(db, args.name, actor=current_user(args), catch_up=args.catch_up,
                        queue=Queue(settings, db=db))  # fmt: skip
    if args.json:
        print(json.dumps({
            "workflow": result.workflow, "was_paused": result.was_paused,
            "catch_up": result.catch_up, "held": result.held,
            "started": len(result.started), "cancelled": result.cancelled,
            "spread_until": timestamp(result.spread_until),
        }))  # fmt: skip
        return 0
    if not result.was_paused:
        print(f"{result.workflow}: not paused")
        return 0
    line = f"{result.workflow}: resumed ({result.catch_up}): {result.held} held"
    line += f", {len(result.started)} started, {result.cancelled} cancelled"
    if result.spread_until is not None:
        line += f", the last starting at {_when(result.spread_until)}"
    print(line)
    return 0


def limit_command(args: argparse.Namespace) -> int:
    """Override (or ``--clear``) a workflow's concurrency and rate limits."""
    from engine.services.flow_limits import check_concurrency, check_rate, clear_limit, set_limit
    from engine.workers.runtime import Queue

    errors = _user_errors()
    changing = args.concurrency is not None or args.rate is not None or args.for_ is not None
    if args.clear and changing:
        raise UserError("--clear: give it alone (not with --concurrency, --rate or --for)")
    if not args.clear and args.concurrency is None and args.rate is None:
        raise UserError("limit: give --concurrency N, --rate N/s|N/m, or --clear")
    try:  # refused before anything opens
        if args.concurrency is not None:
            check_concurrency(args.concurrency)
        if args.rate is not None:
            check_rate(args.rate)
    except errors as exc:
        raise UserError(str(exc)) from None
    settings = settings_for(args)
    with opened_database(args, settings, user_errors=errors) as db:
        queue = Queue(settings, db=db)
        actor = current_user(args)
        if args.clear:
            state = clear_limit(db, args.name, actor=actor, queue=queue)
        else:
            state = set_limit(db, args.name, actor=actor, concurrency=args.concurrency,
                              rate=args.rate, for_=args.for_, queue=queue)  # fmt: skip
    if args.json:
        print(json.dumps(state.as_json(timestamp)))
        return 0
    concurrency = "none" if state.concurrency is None else str(state.concurrency)
    line = f"{state.workflow}: concurrency {concurrency}, rate {state.rate or 'none'}"
    if state.override_until is not None:
        line += f" (override until {_when(state.override_until)})"
    elif args.clear:
        line += " (override cleared)"
    print(line)
    return 0


COMMANDS: tuple[Row, ...] = (
    Command(("workflow", "pause"), pause_command,
            "hold new runs of a workflow; triggers are still accepted (needs OPERATOR)",
            (NAME,
             arg("--for", dest="for_", metavar="DURATION",
                 help="resume by itself after this long (30s, 10m, 1h, 2d)"),
             arg("--catch-up", dest="catch_up", metavar="POLICY",
                 help="the policy of that automatic resume (default: all)"),
             JSON_OUTPUT)),
    Command(("workflow", "resume"), resume_command,
            "resume a paused workflow (needs OPERATOR)",
            (NAME,
             arg("--catch-up", dest="catch_up", metavar="all|latest|skip|spread:DURATION",
                 default="all",
                 help="the held runs: run all (default), run the newest and cancel the "
                      "rest, cancel all, or start them evenly over DURATION"),
             JSON_OUTPUT)),
    Command(("workflow", "limit"), limit_command,
            "override a workflow's concurrency / rate limits (needs ADMIN)",
            (NAME,
             arg("--concurrency", metavar="N", help="at most N runs at once"),
             arg("--rate", metavar="N/s|N/m", help="at most N starts per second or minute"),
             arg("--for", dest="for_", metavar="DURATION",
                 help="the override ends after this long (30s, 10m, 1h, 2d)"),
             arg("--clear", action="store_true", help="drop the override"),
             JSON_OUTPUT)),
)  # fmt: skip
