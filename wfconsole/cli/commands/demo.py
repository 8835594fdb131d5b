"""``wfconsole demo``: sample workflows and a week of past executions, then the console."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.commands import console
from wfconsole.cli.context import current_user, opened_database

DEFAULT_EXECUTIONS = 300
# Below this, seeding takes a moment; show progress only on a terminal.
PROGRESS_ALWAYS_FROM = 100_000


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def progress_printer(out: TextIO) -> Callable[[int, int], None]:
    """A progress callback that rewrites one line on a terminal, else prints one per call."""
    terminal = out.isatty()

    def show(done: int, total: int) -> None:
        text = f"adding executions: {done:,} of {total:,} ({done * 100 // max(total, 1)}%)"
        if terminal:
            out.write(f"\r{text}")
            if done >= total:
                out.write("\n")
        else:
            out.write(f"{text}\n")
        out.flush()

    return show


def demo_command(args: argparse.Namespace) -> int:
    """Seed the configured database, print a summary line, then open the console."""
    from engine.demo.seed import DemoRefused, seed_demo

    with opened_database(args, user_errors=(DemoRefused,), prefix="demo: ") as db:
        show_progress = sys.stderr.isatty() or args.executions >= PROGRESS_ALWAYS_FROM
        summary = seed_demo(
            db,
            executions=args.executions,
            actor=current_user(args),
            progress=progress_printer(sys.stderr) if show_progress else None,
            force=args.force,
        )
        where = db.display_url
    print(
        f"demo: {summary.workflows} workflows and {summary.executions:,} executions"
        f" in {summary.seconds:.1f}s ({where})"
    )
    if args.no_open:
        return 0
    return console.open_console(args)


COMMANDS: tuple[Row, ...] = (
    Command(
        ("demo",),
        demo_command,
        "load sample workflows and past executions, then open the console",
        (
            arg("--executions", type=_count, default=DEFAULT_EXECUTIONS, metavar="N",
                help=f"past executions to add (default {DEFAULT_EXECUTIONS})"),
            arg("--no-open", action="store_true", help="do not open the console afterwards"),
            arg("--force", action="store_true",
                help="seed a database that holds workflows other than the samples"),
        ),
        description=(
            "Create the configured database (a local SQLite file by default), save the"
            " sample workflows (resetting any workflow of the same name to its sample"
            " definition) and add N finished executions spread over the last 7 days."
            " Running it again adds another N executions. Needs ADMIN (the first user of"
            " a new database is SUPER_ADMIN); a database holding other workflows is"
            " refused unless --force."
        ),
    ),
)  # fmt: skip
