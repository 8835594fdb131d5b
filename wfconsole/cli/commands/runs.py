"""``wfconsole run NAME`` and ``wfconsole event NAME``: manual and event triggers.

Both need OPERATOR (checked against the operator's stored role) and are audited.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for
from wfconsole.cli.errors import UserError

if TYPE_CHECKING:
    from engine.db import Database

FINAL = ("SUCCESS", "FAILED", "CANCELLED", "SKIPPED")


def parse_data(text: str | None) -> dict[str, Any]:
    """--data as a JSON object, or a one-line error."""
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--data: not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise UserError("--data: must be a JSON object")
    return data


def run_command(args: argparse.Namespace) -> int:
    """Create one manual execution; with --wait, run it and print its end state."""
    from engine.services.workflow_admin import run_now
    from engine.triggers.new_executions import WorkflowDisabled
    from engine.workers.runtime import EmbeddedWorker, Queue

    data = parse_data(args.data)
    settings = settings_for(args)
    with opened_database(args, settings, user_errors=(WorkflowDisabled,)) as db:
        queue = Queue(settings, db=db)
        [execution_id] = run_now(db, queue, args.name, data, actor=current_user(args))
        if not args.wait:
            print(execution_id)
            return 0
        worker = None
        if not settings.uses_redis and settings.queue.embedded_worker:
            worker = EmbeddedWorker(queue, workers=1)
            worker.start()
        try:
            return _wait(db, execution_id, args.timeout)
        finally:
            if worker is not None:
                worker.stop()


def _wait(db: Database, execution_id: str, timeout: float) -> int:
    from engine.services.executions import get_execution

    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        detail = get_execution(db, execution_id, log_limit=0)
        if detail.row.status in FINAL:
            break
        if time.monotonic() > deadline:
            raise UserError(f"execution {execution_id} still {detail.row.status} after {timeout}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    row = detail.row
    duration = f" in {row.duration_ms:.0f} ms" if row.duration_ms is not None else ""
    print(f"{execution_id} {row.status}{duration}")
    if row.error:
        print(f"error: {row.error}", file=sys.stderr)
    return 0 if row.status in ("SUCCESS", "SKIPPED") else 1


def event_command(args: argparse.Namespace) -> int:
    """Start every enabled workflow listening for the event; print the execution ids."""
    from engine.triggers.new_executions import emit_event
    from engine.workers.runtime import Queue

    data = parse_data(args.data)
    settings = settings_for(args)
    with opened_database(args, settings) as db:
        queue = Queue(settings, db=db)
        ids = emit_event(db, queue, args.name, data, actor=current_user(args), check_role=True)
    for execution_id in ids:
        print(execution_id)
    if not ids:
        print(f"no enabled workflow listens for {args.name!r}", file=sys.stderr)
    return 0


COMMANDS: tuple[Row, ...] = (
    Command(
        ("run",), run_command, "run a workflow now (manual trigger)",
        (arg("name", metavar="NAME"),
         arg("--data", metavar="JSON", help="trigger data as a JSON object"),
         arg("--wait", action="store_true", help="wait for the end state and print it"),
         arg("--timeout", type=float, default=600.0, metavar="SECONDS",
             help="give up waiting after this long (default 600)")),
    ),
    Command(
        ("event",), event_command, "emit an event to every workflow listening for it",
        (arg("name", metavar="NAME"),
         arg("--data", metavar="JSON", help="event data as a JSON object")),
    ),
)  # fmt: skip
