"""The command table's rows, and the argparse tree built from them.

Each module of ``wfconsole.cli.commands`` lists its commands as ``COMMANDS`` (a ``Group``
for a command word with sub-commands, a ``Command`` for each thing one can run); the
parser is built from the rows in one place, so every command gets ``--config`` and
``--user`` the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

PROG = "wfconsole"

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Argument:
    """One ``add_argument`` call: the name or flags, and its keyword options."""

    names: tuple[str, ...]
    options: Mapping[str, Any]


def arg(*names: str, **options: Any) -> Argument:
    """An argument as ``add_argument`` takes it: ``arg("--json", action="store_true")``."""
    return Argument(names, options)


@dataclass(frozen=True)
class Group:
    """A command word whose sub-commands follow it (``workflow``, ``maintenance``)."""

    name: str
    help: str
    metavar: str = "COMMAND"
    common_options: bool = False
    """Whether ``--config``/``--user`` may also come between the word and its sub-command."""
    handler: Handler | None = None
    """What the word alone runs (``wfconsole schedules``); None: a sub-command is required."""
    arguments: tuple[Argument, ...] = ()
    """The word's own arguments, when it runs alone."""


@dataclass(frozen=True)
class Command:
    """One command: the words that name it, what it runs, its help and arguments."""

    words: tuple[str, ...]
    """``("run",)``, or a group's name then the sub-command: ``("workflow", "import")``."""
    handler: Handler
    help: str
    arguments: tuple[Argument, ...] = ()
    description: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Extra values the handler reads from the namespace (``enable``/``disable``)."""


Row = Group | Command


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_common_options(
    parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS
) -> None:
    """``--config`` and ``--user``, which every command accepts."""
    # Sub-commands SUPPRESS their defaults so `wfconsole --config X cmd` keeps the X
    # given before the command; only the top-level parser sets the None default.
    parser.add_argument(
        "--config", metavar="PATH", default=default, help="configuration file (TOML)"
    )
    parser.add_argument(
        "--user", metavar="NAME", default=default, help="act as this user (default: $USER)"
    )


def build_parser(
    rows: Iterable[Row], *, default: Handler, description: str
) -> argparse.ArgumentParser:
    """The whole command tree from the table; ``default`` runs when no command is given."""
    parser = OneLineErrorParser(prog=PROG, description=description)
    add_common_options(parser, default=None)
    parser.set_defaults(handler=default)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineErrorParser
    )
    groups: dict[str, Any] = {}
    for row in rows:
        if isinstance(row, Group):
            group = commands.add_parser(row.name, help=row.help)
            for argument in row.arguments:
                group.add_argument(*argument.names, **argument.options)
            if row.common_options or row.handler is not None:
                add_common_options(group)
            if row.handler is not None:
                group.set_defaults(handler=row.handler)
            groups[row.name] = group.add_subparsers(
                dest=f"{row.name}_command", metavar=row.metavar, required=row.handler is None
            )
            continue
        *group_words, name = row.words
        where = groups[group_words[0]] if group_words else commands
        command = where.add_parser(name, help=row.help, description=row.description)
        for argument in row.arguments:
            command.add_argument(*argument.names, **argument.options)
        add_common_options(command)
        command.set_defaults(handler=row.handler, **row.defaults)
    return parser
