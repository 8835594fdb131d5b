"""Records the ``create_task``, ``create_project`` and ``create_invoice`` actions write.

Each row remembers the step that made it: ``(execution_id, step_index)`` is unique, so
a step that runs again (a retry after a worker died mid-step) finds its row instead of
making a second one. There is deliberately no foreign key to the execution: the records
are business data and outlive execution retention cleanup.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models import BigIntId, utcnow

AMOUNT_DIGITS = 14
AMOUNT_PLACES = 2


def _id() -> Any:
    return Field(default=None, sa_column=sa.Column(BigIntId, primary_key=True))


def _text() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


def _one_row_per_step(table: str) -> tuple[sa.UniqueConstraint]:
    """The ``uq_<table>_step`` constraint: one row per ``(execution_id, step_index)``."""
    return (sa.UniqueConstraint("execution_id", "step_index", name=f"uq_{table}_step"),)


class Task(SQLModel, table=True):
    __tablename__ = "task"
    __table_args__ = _one_row_per_step("task")

    id: int | None = _id()
    execution_id: str = Field(max_length=36)
    step_index: int
    title: str = Field(max_length=500)
    description: str | None = _text()
    assignee: str | None = Field(default=None, max_length=200)
    due_date: date | None = None
    priority: str | None = Field(default=None, max_length=50)
    created_at: datetime = Field(default_factory=utcnow)


class Project(SQLModel, table=True):
    __tablename__ = "project"
    __table_args__ = _one_row_per_step("project")

    id: int | None = _id()
    execution_id: str = Field(max_length=36)
    step_index: int
    name: str = Field(max_length=500)
    description: str | None = _text()
    owner: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Invoice(SQLModel, table=True):
    __tablename__ = "invoice"
    __table_args__ = _one_row_per_step("invoice")

    id: int | None = _id()
    execution_id: str = Field(max_length=36)
    step_index: int
    customer: str = Field(max_length=500)
    amount: Decimal = Field(
        sa_column=sa.Column(sa.Numeric(AMOUNT_DIGITS, AMOUNT_PLACES), nullable=False)
    )
    currency: str = Field(max_length=3)
    due_date: date | None = None
    description: str | None = _text()
    created_at: datetime = Field(default_factory=utcnow)


RECORD_MODELS: tuple[type[SQLModel], ...] = (Task, Project, Invoice)
