"""How list commands page: the same flags, the same checks, output written as rows come.

``--limit N`` gives N rows when N exist (never a quiet cap), ``--all`` every row,
``--jsonl`` one JSON object per line, and a cursor (``--before`` / ``--after``) resumes
where a previous page ended. Rows are streamed: ``--all --jsonl`` over a million rows
never holds them in memory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

from wfconsole.cli.command_table import Argument, arg
from wfconsole.cli.errors import UserError


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def limit_arguments(default: int | None, noun: str) -> tuple[Argument, ...]:
    """``--limit N`` and ``--all``; ``default`` None means every row unless limited."""
    shown = f"default {default}" if default is not None else "default: all"
    return (
        arg("--limit", type=positive, metavar="N",
            help=f"this many {noun}, when that many exist ({shown})"),
        arg("--all", action="store_true", help=f"every matching {noun.rstrip('s')}"),
    )  # fmt: skip


def output_arguments() -> tuple[Argument, ...]:
    """``--json`` (one array) and ``--jsonl`` (one object per line)."""
    return (
        arg("--json", action="store_true", help="machine-readable output (one array)"),
        arg("--jsonl", action="store_true", help="one JSON object per line"),
    )


def output_format(args: argparse.Namespace) -> None:
    """Refuse ``--json`` with ``--jsonl`` (for the lists that have no limit to take)."""
    if args.json and args.jsonl:
        raise UserError("--json and --jsonl: give one of them")


def page_limit(args: argparse.Namespace, default: int | None) -> int | None:
    """The number of rows asked for (None: all), after refusing flags that contradict."""
    if args.all and args.limit is not None:
        raise UserError("--all and --limit: give one of them")
    if getattr(args, "before", None) is not None and getattr(args, "after", None) is not None:
        raise UserError("--before and --after: give one of them")
    output_format(args)
    return None if args.all else (args.limit or default)


def print_jsonl(items: Iterable[dict[str, Any]]) -> None:
    """One compact JSON object per line, written as the rows come."""
    for item in items:
        sys.stdout.write(json.dumps(item) + "\n")


def print_json_array(items: Iterable[dict[str, Any]]) -> None:
    """A JSON array with one compact object per line, written as the rows come."""
    first = True
    sys.stdout.write("[")
    for item in items:
        sys.stdout.write("\n  " if first else ",\n  ")
        sys.stdout.write(json.dumps(item))
        first = False
    sys.stdout.write("\n]\n" if not first else "]\n")


def print_indented_json_array(items: Iterable[dict[str, Any]]) -> None:
    """Exactly ``json.dumps(list(items), indent=2)`` and a newline, written as the rows
    come (the commands whose ``--json`` has always been indented keep their bytes)."""
    first = True
    for item in items:
        body = json.dumps(item, indent=2).replace("\n", "\n  ")
        sys.stdout.write(("[\n  " if first else ",\n  ") + body)
        first = False
    sys.stdout.write("[]\n" if first else "\n]\n")
