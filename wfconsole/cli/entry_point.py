"""``main``: parse the command line, run the command, turn expected failures into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine.process_exit import skip_final_collections
from wfconsole.cli import command_table
from wfconsole.cli.commands import COMMAND_TABLE
from wfconsole.cli.commands.console import open_console
from wfconsole.cli.context import current_user
from wfconsole.cli.errors import error_line

PROG = command_table.PROG


def build_parser(word: str | None = None) -> argparse.ArgumentParser:
    """The whole command tree; no command opens the console.

    With ``word``, a command word the table has, only that word's branch of the tree: it
    parses that word's command lines as the whole tree does, and building every one of
    the table's parsers is a tenth of a small command's start.
    """
    rows = [row for row in COMMAND_TABLE if _word(row) == word] or COMMAND_TABLE
    return command_table.build_parser(
        rows,
        default=open_console,
        description="Workflow automation with a terminal console.",
    )


def _word(row: command_table.Row) -> str:
    return row.name if isinstance(row, command_table.Group) else row.words[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wfconsole`` script."""
    skip_final_collections()
    argv = sys.argv[1:] if argv is None else list(argv)
    # The first argument, when it is a command word, names the only branch that can parse
    # the line (options before it, or none, need the whole tree).
    args = build_parser(argv[0] if argv else None).parse_args(argv)
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
