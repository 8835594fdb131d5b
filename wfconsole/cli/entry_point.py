"""The ``wfconsole`` command line: argument parsing, wiring and one-line errors.

Each command group lives in ``wfconsole.commands``; modules are imported lazily so
``wfconsole --help`` and small commands start fast.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

PROG = "wfconsole"


class UserError(Exception):
    """A mistake the user can fix; shown as one line, no traceback."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _common(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    # Sub-commands SUPPRESS their defaults so `wfconsole --config X cmd` keeps the X
    # given before the command; only the top-level parser sets the None default.
    parser.add_argument(
        "--config", metavar="PATH", default=default, help="configuration file (TOML)"
    )
    parser.add_argument(
        "--user", metavar="NAME", default=default, help="act as this user (default: $USER)"
    )


Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = _Parser(prog=PROG, description="Workflow automation with a terminal console.")
    _common(parser, default=None)
    parser.set_defaults(handler="wfconsole.commands.console:open_console")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    from wfconsole.commands import register_all

    register_all(commands, _common)
    return parser


def current_user(args: argparse.Namespace) -> str:
    """The operator: --user, else the OS user."""
    if getattr(args, "user", None):
        return str(args.user)
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _resolve(handler: str | Handler) -> Handler:
    if callable(handler):
        return handler
    module_name, _, function = handler.partition(":")
    resolved: Handler = getattr(importlib.import_module(module_name), function)
    return resolved


def _user_errors() -> tuple[type[BaseException], ...]:
    from engine.config import ConfigError
    from engine.db import DatabaseError
    from engine.definitions.schema import DefinitionError
    from engine.services.workflows import WorkflowNotFound

    return (UserError, ConfigError, DatabaseError, DefinitionError, WorkflowNotFound)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wfconsole`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = _resolve(args.handler)
    try:
        return handler(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        from engine.access.roles import PermissionDenied

        if isinstance(exc, PermissionDenied):
            # The same check and wording as the console's and the API's refusals.
            who = current_user(args)
            print(f"{PROG}: error: {command_label(args)}: refused for {who}: {_one_line(exc)}",
                  file=sys.stderr)  # fmt: skip
            return 1
        if isinstance(exc, _user_errors()):
            print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
            return 1
        from engine.db import storage_failure

        failure = storage_failure(exc)
        if failure is not None:  # disk full, database locked or down: nothing to debug
            print(f"{PROG}: error: database: {_one_line_text(failure)}", file=sys.stderr)
            return 1
        raise


def command_label(args: argparse.Namespace) -> str:
    """The command as typed, without its arguments: ``workflow import``, ``run``."""
    command = getattr(args, "command", None) or PROG
    sub = getattr(args, f"{command}_command", None)
    return f"{command} {sub}" if sub else str(command)


def _one_line(exc: BaseException) -> str:
    return _one_line_text(str(exc).strip() or type(exc).__name__)


def _one_line_text(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    # Run the importable module's main, so its exception classes are the ones commands raise.
    from wfconsole.cli import main as _main

    sys.exit(_main())
