"""``wfconsole executions replay ID… [--from-step N] [--version original|latest]
[--set PATH=VALUE …] [--dry-run] [--json]``: fix forward.

Each run is replayed as a new execution linked to it: the steps before N are copied (not
sent again), the rest run on the chosen definition with the trigger data patched by
``--set``. Before anything is created, a summary says what will be sent (the blast
radius); ``--dry-run`` prints the rendered requests and creates nothing. OPERATOR; audited.
"""

from __future__ import annotations

import argparse
import json

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for
from wfconsole.cli.errors import UserError
from wfconsole.cli.output import printable


def _not_negative(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError("not a step number (0, 1, 2, …)")
    return int(text)


def replay_command(args: argparse.Namespace) -> int:
    from engine.services.executions import ExecutionNotFound
    from engine.services.replay import Patch, ReplayRefused, replay_executions
    from engine.triggers.new_executions import WorkflowDisabled
    from engine.workers.runtime import Queue

    try:
        patches = [Patch.parse(text) for text in args.set or ()]
    except ReplayRefused as exc:
        raise UserError(str(exc)) from None
    settings = settings_for(args)
    errors = (ExecutionNotFound, ReplayRefused, WorkflowDisabled)
    with opened_database(args, settings, user_errors=errors) as db:
        plans = replay_executions(
            db, Queue(settings, db=db), args.ids, from_step=args.from_step,
            version=args.version, patches=patches, dry_run=args.dry_run,
            actor=current_user(args),
        )  # fmt: skip
    if args.json:
        print(json.dumps([plan.as_json() for plan in plans], indent=2, default=str))
        return 0
    for plan in plans:
        head = "would replay" if args.dry_run else f"replayed as {plan.new_id}:"
        print(printable(f"{plan.original} ({plan.workflow}) {head} from step {plan.from_step} "
                    f"on version {plan.version}"))  # fmt: skip
        for note in plan.notes:
            print(printable(f"  note: {note}"))
        for index, action, status in plan.copied:
            print(printable(f"  step {index} {action}: copied ({status}), not sent again"))
        for step in plan.runs:
            request = step.request
            target = f" {request.method} {request.url}" if request is not None else ""
            print(printable(f"  step {step.index} {step.type}: will run{target}"))
            if args.dry_run:
                shown = step.fields if request is None else {
                    "headers": request.headers, "body": request.body}  # fmt: skip
                print(printable(f"    {json.dumps(shown, sort_keys=True, default=str)}"))
    return 0


COMMANDS: tuple[Row, ...] = (
    Command(
        ("executions", "replay"), replay_command,
        "run executions again from a step, on the original or the latest definition (OPERATOR)",
        (arg("ids", nargs="+", metavar="ID", help="executions to replay"),
         arg("--from-step", type=_not_negative, metavar="N",
             help="the first step to run (default: the step the run failed at; earlier "
             "steps are copied, not sent)"),
         arg("--version", choices=("original", "latest"), default="original",
             help="the definition version to run (default: original)"),
         arg("--set", action="append", metavar="PATH=VALUE",
             help="patch the trigger data (VALUE: JSON or a plain word); repeatable"),
         arg("--dry-run", action="store_true",
             help="print the plan and the rendered requests; create and send nothing"),
         arg("--json", action="store_true", help="the plans as JSON")),
        description="Fix forward: a new execution per run, linked to it (replay_of), that "
        "copies the results of the steps before --from-step and runs the rest.",
    ),
)  # fmt: skip
