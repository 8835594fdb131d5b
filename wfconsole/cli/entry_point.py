"""``main``: parse the command line, run the command, turn expected failures into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wfconsole.cli import command_table
from wfconsole.cli.commands import COMMAND_TABLE
from wfconsole.cli.commands.console import open_console
from wfconsole.cli.context import current_user
from wfconsole.cli.errors import error_line

PROG = command_table.PROG


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; no command opens the console."""
    return command_table.build_parser(
        COMMAND_TABLE,
        default=open_console,
        description="Workflow automation with a terminal console.",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wfconsole`` script."""
    args = build_parser().parse_args(argv)
    try:
        handler: command_table.Handler = args.handler
        return handler(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        line = error_line(exc, args, operator=current_user(args))
        if line is None:
            raise
        print(f"{PROG}: error: {line}", file=sys.stderr)
        return 1
