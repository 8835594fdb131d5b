"""``wfconsole executions diff ID [--against ID | --last-success] [--json]``.

Two runs side by side: trigger data, definition versions, and per step the action, the
rendered input (secrets masked), status, result or error and duration; then the first
step where they differ. ``--json`` gives the whole comparison, ``first_difference``
included.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.context import opened_database, settings_for
from wfconsole.cli.errors import UserError
from wfconsole.cli.output import print_table, printable


def _resolve(document: Any, path: str) -> Any:
    """The value at a diff path (``trigger.a.b[2]``) of a JSON document, or None."""
    value = document
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def diff_command(args: argparse.Namespace) -> int:
    from engine.services.executions import ExecutionNotFound
    from engine.services.run_diff import NothingToCompare, diff_executions

    if args.against and args.last_success:
        raise UserError("--against and --last-success: choose one")
    settings = settings_for(args)
    errors = (ExecutionNotFound, NothingToCompare)
    with opened_database(args, settings, user_errors=errors) as db:
        diff = diff_executions(db, args.id, args.against)
    if args.json:
        print(json.dumps(diff.as_json(), indent=2, default=str))
        return 0
    left, right = diff.left, diff.right
    print_table(
        ["", "EXECUTION", "WORKFLOW", "VERSION", "STATUS", "DURATION"],
        [[side, run.id, run.workflow, str(run.version), run.status,
          "-" if run.duration_ms is None else f"{run.duration_ms:.0f} ms"]
         for side, run in (("left", left), ("right", right))],
    )  # fmt: skip
    print()
    if diff.trigger_paths:
        print("trigger data differs:")
        for path in diff.trigger_paths:
            was = _resolve({"trigger": left.trigger_data}, path)
            other = _resolve({"trigger": right.trigger_data}, path)
            print(f"  {printable(path)}: {printable(was)}  |  {printable(other)}")
    else:
        print("trigger data: the same")
    if diff.definition_paths:
        print(f"definition v{left.version} and v{right.version} differ at: "
              + printable(", ".join(diff.definition_paths)))  # fmt: skip
    elif left.version != right.version or left.workflow != right.workflow:
        print(f"definition v{left.version} and v{right.version}: the same")
    else:
        print(f"definition: the same version (v{left.version})")
    print()
    rows = []
    for step in diff.steps:
        a, b = step.left, step.right
        rows.append([
            str(step.index), (a or b).action if (a or b) else "-",  # type: ignore[union-attr]
            _side(a), _side(b), ", ".join(step.differs) or "-",
        ])  # fmt: skip
    print_table(["STEP", "ACTION", "LEFT", "RIGHT", "DIFFERS"], rows)
    first = diff.first_difference
    if first is None:
        print("\nno step differs")
        return 0
    print(f"\nfirst difference: step {first.index} ({', '.join(first.differs)})")
    for name in first.differs:
        if name == "missing":
            continue
        print(f"  {name}:")
        print(f"    left:  {printable(getattr(first.left, name))}")
        print(f"    right: {printable(getattr(first.right, name))}")
    return 0


def _side(step: Any) -> str:
    if step is None or step.status is None:
        return "not reached"
    duration = "" if step.duration_ms is None else f" {step.duration_ms:.0f} ms"
    error = f" {step.error}" if step.error else ""
    return printable(f"{step.status}{duration}{error}")


COMMANDS: tuple[Row, ...] = (
    Command(
        ("executions", "diff"), diff_command,
        "compare a run with another (default: the last success of its workflow)",
        (arg("id", help="the execution to look at (left)"),
         arg("--against", metavar="ID", help="the run to compare with (right)"),
         arg("--last-success", action="store_true",
             help="compare with the newest successful run of the same workflow (the default)"),
         arg("--json", action="store_true", help="the whole comparison as JSON")),
        description="Trigger data, definition versions and each step's rendered input "
        "(secrets masked), status, result or error and duration, side by side; names the "
        "first step where the two runs differ.",
    ),
)  # fmt: skip
