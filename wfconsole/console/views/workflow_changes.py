"""The workflow list's changes, run in its thread workers; each reports by message.

Every function blocks (it is called from a worker thread) and posts one message when it
is done; an error the operator should read (a refusal, a missing workflow, an invalid
definition) becomes a failed ``ChangeDone`` with its text, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rich.text import Text
from textual.message import Message

from engine.access.roles import PermissionDenied
from engine.definitions.schema import DefinitionError
from engine.triggers.new_executions import WorkflowDisabled
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.widgets.safe_text import clean, safe_text

Post = Callable[[Message], object]
Change = Callable[[], str]
"""A change to make; it returns the line that says what it did."""
Severity = Literal["information", "warning", "error"]
# Errors a change can end with that the operator should read as they are.
EXPECTED_ERRORS = (PermissionDenied, LookupError, WorkflowDisabled, DefinitionError, ValueError)


@dataclass
class ChangeDone(Message):
    """A change finished (or was refused); ``note`` says what happened."""

    note: str
    severity: Severity


@dataclass
class DeleteCounted(Message):
    """The executions a delete would take with it were counted: ask the operator."""

    name: str
    executions: int


@dataclass
class DocumentLoaded(Message):
    """A workflow's definition arrived: open it in the editor."""

    name: str
    document: dict[str, Any]


def run_change(call: Change, post: Post) -> None:
    """Make one change and post what it did, or why it was refused."""
    try:
        note = call()
    except EXPECTED_ERRORS as exc:
        post(ChangeDone(clean(exc), "error"))
    else:
        post(ChangeDone(clean(note), "information"))


def load_document(backend: ConsoleBackend, name: str, post: Post) -> None:
    """Read ``name``'s definition for the editor."""
    try:
        document = backend.workflow_document(name)
    except LookupError as exc:
        post(ChangeDone(clean(exc), "error"))
        return
    post(DocumentLoaded(name, document))


def count_for_delete(backend: ConsoleBackend, name: str, post: Post) -> None:
    """Count the executions deleting ``name`` would remove."""
    try:
        count = backend.count_workflow_executions(name)
    except LookupError as exc:
        post(ChangeDone(clean(exc), "error"))
        return
    post(DeleteCounted(name, count))


def delete_question(name: str, count: int) -> Text:
    """The delete confirmation, naming the workflow and what goes with it."""
    return Text.assemble(
        "Delete workflow ", safe_text(name, style="bold", max_length=120), "?\n",
        (f"Its {count} execution{'' if count == 1 else 's'}", "bold"),
        ", their steps and logs, and every saved version go with it.\n"
        "This cannot be undone.",
    )  # fmt: skip
