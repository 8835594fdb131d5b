"""Errors a command ends with, and how each becomes one line on stderr."""

from __future__ import annotations

import argparse


class UserError(Exception):
    """A mistake the user can fix; shown as one line, no traceback."""


def command_label(args: argparse.Namespace) -> str:
    """The command as typed, without its arguments: ``workflow import``, ``run``."""
    command = getattr(args, "command", None) or "wfconsole"
    sub = getattr(args, f"{command}_command", None)
    return f"{command} {sub}" if sub else str(command)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


def exception_line(exc: BaseException) -> str:
    """The exception's message on one line (its class name when it has none)."""
    return one_line(str(exc).strip() or type(exc).__name__)


def error_line(exc: Exception, args: argparse.Namespace, *, operator: str) -> str | None:
    """The one line an expected failure prints after ``wfconsole: error:``, or None.

    None means a bug: the caller lets the traceback through.
    """
    from engine.access.roles import PermissionDenied
    from engine.config import ConfigError
    from engine.db import DatabaseError, storage_failure
    from engine.definitions.schema import DefinitionError
    from engine.services.workflows import WorkflowNotFound

    if isinstance(exc, PermissionDenied):
        # The same check and wording as the console's and the API's refusals.
        return f"{command_label(args)}: refused for {operator}: {exception_line(exc)}"
    expected = (UserError, ConfigError, DatabaseError, DefinitionError, WorkflowNotFound)
    if isinstance(exc, expected):
        return exception_line(exc)
    failure = storage_failure(exc)
    if failure is not None:  # disk full, database locked or down: nothing to debug
        return f"database: {one_line(failure)}"
    return None
