"""The ``create_task``, ``create_project`` and ``create_invoice`` actions: rows in our database.

The rendered fields are checked here (a template can turn a valid definition into a
non-numeric amount or a garbage date) and a bad value fails the step permanently. A row
is written at most once per execution and step: running the step again returns the row
it made the first time, with ``created: false``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel, select

from engine.actions.errors import ActionError
from engine.actions.record_tables import AMOUNT_DIGITS, AMOUNT_PLACES, Invoice, Project, Task
from engine.actions.step_context import ActionOutput, StepContext

Record = TypeVar("Record", Task, Project, Invoice)

_CENT = Decimal(1).scaleb(-AMOUNT_PLACES)
_AMOUNT_LIMIT = Decimal(10) ** (AMOUNT_DIGITS - AMOUNT_PLACES)
_SHOWN_CHARS = 60


def run_create_task(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Create a task (title, description, assignee, due date, priority)."""
    values = {
        "title": text(fields, "title", 500, required=True),
        "description": text(fields, "description"),
        "assignee": text(fields, "assignee", 200),
        "due_date": parse_due_date(fields.get("due_date")),
        "priority": text(fields, "priority", 50),
    }
    return _create(Task, values, ctx, "task", values["title"])


def run_create_project(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Create a project (name, description, owner)."""
    values = {
        "name": text(fields, "name", 500, required=True),
        "description": text(fields, "description"),
        "owner": text(fields, "owner", 200),
    }
    return _create(Project, values, ctx, "project", values["name"])


def run_create_invoice(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Create an invoice (customer, amount, currency, due date, description)."""
    values = {
        "customer": text(fields, "customer", 500, required=True),
        "amount": parse_amount(fields.get("amount")),
        "currency": parse_currency(fields.get("currency")),
        "due_date": parse_due_date(fields.get("due_date")),
        "description": text(fields, "description"),
    }
    label = f"{values['customer']}, {values['amount']} {values['currency']}"
    return _create(Invoice, values, ctx, "invoice", label)


# --- rendered values --------------------------------------------------------------------


def _bad(field: str, problem: str, value: Any) -> ActionError:
    shown = str(value)
    shown = shown if len(shown) <= _SHOWN_CHARS else shown[:_SHOWN_CHARS] + "…"
    return ActionError(f"{field}: {problem}: {shown!r}", transient=False)


def text(
    fields: dict[str, Any], name: str, max_length: int | None = None, *, required: bool = False
) -> str | None:
    """A rendered string field; None when empty unless required (a permanent error)."""
    value = fields.get(name)
    shown = "" if value is None else str(value).strip()
    if not shown:
        if required:
            raise ActionError(f"{name}: must not be empty", transient=False)
        return None
    if max_length is not None and len(shown) > max_length:
        raise ActionError(
            f"{name}: longer than {max_length} characters ({len(shown)})", transient=False
        )
    return shown


def parse_amount(value: Any) -> Decimal:
    """A non-negative amount with at most two decimal places, from a number or numeric text."""
    if isinstance(value, bool) or value is None:
        raise _bad("amount", "not a number", value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad("amount", "not a number", value) from None
    if not amount.is_finite():
        raise _bad("amount", "not a number", value)
    if amount < 0:
        raise _bad("amount", "must not be negative", value)
    if amount >= _AMOUNT_LIMIT:
        raise _bad("amount", f"must be below {_AMOUNT_LIMIT:,}", value)
    if amount != amount.quantize(_CENT):
        raise _bad("amount", f"more than {AMOUNT_PLACES} decimal places", value)
    return amount.quantize(_CENT)


def parse_currency(value: Any) -> str:
    """An ISO 4217-style three-letter code, upper-cased; USD when empty."""
    code = str(value or "USD").strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise _bad("currency", "not a three-letter currency code", value)
    return code


def parse_due_date(value: Any) -> date | None:
    """An ISO date (``2026-12-01``) or date-time (its date); None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        cleaned = value.strip()
        for parse in (date.fromisoformat, lambda s: datetime.fromisoformat(s).date()):
            try:
                return parse(cleaned)
            except ValueError:
                continue
    raise _bad("due_date", "not an ISO date (YYYY-MM-DD)", value)


# --- storage ----------------------------------------------------------------------------


def _create(
    model: type[Record], values: dict[str, Any], ctx: StepContext, kind: str, label: Any
) -> ActionOutput:
    try:
        row, created = _insert_once(model, values, ctx)
    except sa.exc.SQLAlchemyError as exc:
        raise _storage_error(kind, exc) from None
    data = _shown(row)
    data = {f"{kind}_id": data.pop("id"), "created": created, **data}
    name = " ".join(str(label).split())[:_SHOWN_CHARS]
    verb = "created" if created else "already created by this step"
    return ActionOutput(data=data, summary=f"{kind} {row.id} {verb}: {name}")


def _insert_once(
    model: type[Record], values: dict[str, Any], ctx: StepContext
) -> tuple[Record, bool]:
    """Insert the row, or return the one this execution's step already made."""
    with ctx.db.session() as session:
        row = model(execution_id=ctx.execution_id, step_index=ctx.step_index, **values)
        session.add(row)
        try:
            session.commit()
            return row, True
        except sa.exc.IntegrityError:
            session.rollback()
        # A concurrent or earlier run of this step won the unique constraint.
        existing = session.exec(
            select(model).where(
                model.execution_id == ctx.execution_id,
                model.step_index == ctx.step_index,
            )
        ).first()
    if existing is None:
        raise ActionError(f"could not store the {model.__name__.lower()} row", transient=False)
    return existing, False


def _shown(row: SQLModel) -> dict[str, Any]:
    """The row as JSON-able data for the step record (dates ISO, amounts numbers)."""
    shown: dict[str, Any] = {}
    for key in type(row).model_fields:
        if key in ("execution_id", "step_index"):
            continue
        value = getattr(row, key)
        if isinstance(value, date):  # datetime is a date too
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        shown[key] = value
    return shown


def _storage_error(kind: str, exc: sa.exc.SQLAlchemyError) -> ActionError:
    """Lost connections and lock timeouts are worth a retry; bad data or schema are not."""
    transient = isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or bool(
        getattr(exc, "connection_invalidated", False)
    )
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    return ActionError(f"cannot store the {kind}: {first}", transient=transient)
