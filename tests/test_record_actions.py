"""create_task / create_project / create_invoice write one row per execution step, on
SQLite and PostgreSQL alike, and refuse rendered values that are not what they claim."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import SQLModel, func, select

from engine.actions.errors import ActionError
from engine.actions.record_actions import (
    run_create_invoice,
    run_create_project,
    run_create_task,
)
from engine.actions.record_tables import Invoice, Project, Task
from engine.actions.step_context import ActionOutput, ActionRunner, StepContext
from engine.config import Settings
from engine.db import Database


def ctx_for(db: Database, execution_id: str = "exec-1", step_index: int = 0) -> StepContext:
    return StepContext(execution_id, step_index, time.monotonic() + 10, Settings(), db)


def rows(db: Database, model: type[SQLModel]) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def run(runner: ActionRunner, db: Database, fields: dict[str, Any], **ctx: Any) -> ActionOutput:
    return runner(fields, ctx_for(db, **ctx))


def refused(runner: ActionRunner, db: Database, fields: dict[str, Any]) -> ActionError:
    with pytest.raises(ActionError) as caught:
        run(runner, db, fields)
    assert not caught.value.transient
    return caught.value


def test_task_is_created_with_its_fields(any_db: Database) -> None:
    fields = {"title": "Check invoice 7", "assignee": "finance", "due_date": "2026-12-01"}
    out = run(run_create_task, any_db, {**fields, "priority": "high", "description": None})
    with any_db.session() as session:
        [task] = session.exec(select(Task)).all()
    assert (task.execution_id, task.step_index, task.title) == ("exec-1", 0, "Check invoice 7")
    assert (task.assignee, task.due_date, task.priority) == ("finance", date(2026, 12, 1), "high")
    assert out.data["task_id"] == task.id
    assert out.data["created"] is True
    assert out.data["due_date"] == "2026-12-01"
    assert out.summary == f"task {task.id} created: Check invoice 7"


def test_project_is_created(any_db: Database) -> None:
    out = run(run_create_project, any_db, {"name": "Onboard ACME", "owner": "sales"})
    assert out.data["project_id"] is not None
    assert (out.data["name"], out.data["owner"]) == ("Onboard ACME", "sales")
    assert rows(any_db, Project) == 1


def test_invoice_amount_from_a_template_is_stored_as_a_number(any_db: Database) -> None:
    fields = {"customer": "ACME", "amount": "1234.5", "currency": "eur", "due_date": None}
    out = run(run_create_invoice, any_db, fields)
    with any_db.session() as session:
        [invoice] = session.exec(select(Invoice)).all()
    assert (invoice.amount, invoice.currency) == (Decimal("1234.50"), "EUR")
    assert (out.data["amount"], out.data["currency"]) == (1234.5, "EUR")
    assert out.summary == f"invoice {invoice.id} created: ACME, 1234.50 EUR"


@pytest.mark.parametrize(
    ("runner", "fields", "model"),
    [
        (run_create_task, {"title": "t"}, Task),
        (run_create_project, {"name": "p"}, Project),
        (run_create_invoice, {"customer": "c", "amount": 10}, Invoice),
    ],
)
def test_running_the_same_step_again_returns_the_first_row(
    any_db: Database, runner: ActionRunner, fields: dict[str, Any], model: type[SQLModel]
) -> None:
    first = run(runner, any_db, fields)
    again = run(runner, any_db, fields)
    assert rows(any_db, model) == 1
    assert again.data == {**first.data, "created": False}
    assert "already created by this step" in again.summary


def test_another_step_or_execution_makes_its_own_row(any_db: Database) -> None:
    run(run_create_task, any_db, {"title": "t"})
    run(run_create_task, any_db, {"title": "t"}, step_index=1)
    run(run_create_task, any_db, {"title": "t"}, execution_id="exec-2")
    assert rows(any_db, Task) == 3


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        ("twelve", "not a number"),
        ("", "not a number"),
        (None, "not a number"),
        (True, "not a number"),
        ("NaN", "not a number"),
        ("-5", "must not be negative"),
        ("10.005", "more than 2 decimal places"),
        ("1e15", "must be below"),
    ],
)
def test_bad_amount_fails_permanently(any_db: Database, amount: Any, problem: str) -> None:
    error = refused(run_create_invoice, any_db, {"customer": "c", "amount": amount})
    assert error.message.startswith(f"amount: {problem}")
    assert rows(any_db, Invoice) == 0


@pytest.mark.parametrize("due_date", ["next tuesday", "2026-13-01", "31/12/2026", 20261201])
def test_garbage_due_date_fails_permanently(any_db: Database, due_date: Any) -> None:
    error = refused(run_create_task, any_db, {"title": "t", "due_date": due_date})
    assert error.message.startswith("due_date: not an ISO date")
    assert rows(any_db, Task) == 0


def test_date_time_due_date_keeps_its_date(any_db: Database) -> None:
    out = run(run_create_task, any_db, {"title": "t", "due_date": "2026-12-01T17:30:00Z"})
    assert out.data["due_date"] == "2026-12-01"


def test_bad_currency_fails_permanently(any_db: Database) -> None:
    error = refused(run_create_invoice, any_db, {"customer": "c", "amount": 1, "currency": "€"})
    assert error.message.startswith("currency: not a three-letter currency code")


def test_rendered_title_too_long_or_empty_fails_permanently(any_db: Database) -> None:
    assert refused(run_create_task, any_db, {"title": "x" * 501}).message.startswith(
        "title: longer than 500 characters"
    )
    assert refused(run_create_task, any_db, {"title": "  "}).message == "title: must not be empty"


def test_summary_is_one_line_for_a_multi_line_title(any_db: Database) -> None:
    out = run(run_create_task, any_db, {"title": "first\nsecond"})
    assert "\n" not in out.summary
    assert out.data["title"] == "first\nsecond"


def test_a_project_keeps_its_name_through_the_registry(any_db: Database) -> None:
    # ``name`` labels a step in every other action; for create_project it is the project.
    from engine.actions.registry import run_action
    from engine.definitions.schema import validate_definition

    definition = validate_definition(
        {
            "name": "wf",
            "triggers": [{"type": "manual"}],
            "actions": [{"type": "create_project", "name": "Apollo {{ trigger.n }}"}],
        }
    )
    output = run_action(definition.actions[0], {"trigger": {"n": 11}}, ctx_for(any_db))
    assert output.data["name"] == "Apollo 11"
    assert rows(any_db, Project) == 1
