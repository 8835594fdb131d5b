"""The workflow cache's generation: one row whose token changes with every workflow change.

Every transaction that saves, enables, disables, deletes, rolls back or re-encrypts a
workflow writes a new token into this row; the cache (engine/definition_cache.py) keys
its entries by the token, so no process serves a definition older than the last commit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 00:00:00.000000
"""

from __future__ import annotations

import uuid
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
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "token": str(uuid.uuid4()), "changed_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("definition_generation")
