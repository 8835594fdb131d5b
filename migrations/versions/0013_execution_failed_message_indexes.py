"""The failure reasons of ``wfconsole stats`` index-only on PostgreSQL (issue 15).

The reasons group a window's FAILED runs by signature and message, so they read every
failure's ``error``: through the table that was a heap page per failure (at a million
executions, 100,000 failures on 40,000 of the 44,700 pages, most of the command's time).
``idx_execution_failed_message`` keeps each failure's completion time with its signature
and message, so the window's failures are one index range, read index-only.

An index entry holds at most about 2.7 kB, and a message has no limit: a message of more
than 2,000 bytes (with its signature, at most 480 bytes, the entry stays under the limit)
is left out of that index, and ``idx_execution_failed_long_message`` (completion time
only) finds those few rows in the heap instead. Both are partial, FAILED rows only: a
run that succeeds, is skipped or cancelled adds no entry. SQLite has neither (no entry
limit there, and its stats read the rows as before).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE_INDEX: Final = "idx_execution_failed_message"
LONG_MESSAGE_INDEX: Final = "idx_execution_failed_long_message"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {MESSAGE_INDEX} ON workflow_execution (completed_at)"
        " INCLUDE (error_signature, error)"
        " WHERE status = 'FAILED' AND coalesce(octet_length(error), 0) <= 2000"
    )
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {LONG_MESSAGE_INDEX} ON workflow_execution (completed_at)"
        " WHERE status = 'FAILED' AND octet_length(error) > 2000"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {LONG_MESSAGE_INDEX}")
    op.execute(f"DROP INDEX IF EXISTS {MESSAGE_INDEX}")
