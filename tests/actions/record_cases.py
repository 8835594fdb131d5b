"""The record actions in the contract suite: rows in ctx.db, no peer (so no hang)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, ClassVar

from tests.actions.contract import ActionCase, Staged


class _RecordCase(ActionCase):
    """Rendered fields per behaviour; there is no secret and no network peer."""

    fields: ClassVar[dict[str, dict[str, Any]]]
    hang_transient = None

    def stage(self, behaviour: str, stack: ExitStack) -> Staged:
        return Staged(fields=dict(self.fields[behaviour]))


class CreateTaskCase(_RecordCase):
    action_type = "create_task"
    failures = {"bad_due_date": False, "empty_title": False}
    fields = {
        "success": {"title": "Check invoice 7", "assignee": "finance", "due_date": "2026-12-01"},
        "bad_due_date": {"title": "Check invoice 7", "due_date": "next tuesday"},
        "empty_title": {"title": " "},
    }


class CreateProjectCase(_RecordCase):
    action_type = "create_project"
    failures = {"name_too_long": False}
    fields = {
        "success": {"name": "Onboard ACME", "owner": "sales", "description": None},
        "name_too_long": {"name": "x" * 501},
    }


class CreateInvoiceCase(_RecordCase):
    action_type = "create_invoice"
    failures = {"amount_not_numeric": False, "bad_due_date": False}
    fields = {
        "success": {"customer": "ACME", "amount": "1234.50", "currency": "EUR"},
        "amount_not_numeric": {"customer": "ACME", "amount": "{{ trigger.amount }}"},
        "bad_due_date": {"customer": "ACME", "amount": 5, "due_date": "31/12/2026"},
    }
