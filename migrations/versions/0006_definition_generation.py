"""The workflow cache's generation: one row whose number grows with every workflow change.

Every transaction that saves, enables, disables, deletes, rolls back or re-encrypts a
workflow adds one to ``gen`` (``UPDATE … SET gen = gen + 1 RETURNING gen``); the cache
(engine/workflow_cache/cache.py) keys its entries by the number, so no process serves a
definition older than the last commit. The number starts at the creation time in
milliseconds, so a database created again never reuses a number a shared Redis still
holds entries for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 00:00:00.000000
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "definition_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gen", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    first = int(time.time() * 1000)
    op.bulk_insert(table, [{"id": 1, "gen": first, "changed_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("definition_generation")
