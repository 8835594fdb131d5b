"""The tables as SQLAlchemy Core sees them, for plain reads that start fast.

``engine.models`` builds the SQLModel classes (pydantic models and ORM mappers), which a
command that only reads a few rows pays for at every start. These lightweight ``table()``
clauses name the same tables and columns with the same result types, and import nothing
but SQLAlchemy; ``tests/test_core_tables.py`` keeps them in step with the models.
Writes, and reads that want model objects, still go through ``engine.models``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

PENDING, RUNNING = "PENDING", "RUNNING"
SUCCESS, FAILED, CANCELLED, SKIPPED = "SUCCESS", "FAILED", "CANCELLED", "SKIPPED"
STATUSES = (PENDING, RUNNING, SUCCESS, FAILED, CANCELLED, SKIPPED)
"""The values of ``engine.models.ExecutionStatus``, in its order."""


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, as SQLModel's own ``UTCDateTime`` (whose import
    loads all of SQLModel): SQLite stores them without an offset, meaning UTC."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _columns(**types: Any) -> list[sa.ColumnClause[Any]]:
    return [sa.column(name, kind) for name, kind in types.items()]


_TEXT, _INT, _FLOAT, _BOOL, _JSON = sa.String(), sa.Integer(), sa.Float(), sa.Boolean(), sa.JSON()
_TIME = UTCDateTime()

WORKFLOW = sa.table(
    "workflow",
    *_columns(
        id=_TEXT, name=_TEXT, description=_TEXT, enabled=_BOOL, version=_INT,
        category=_TEXT, tags=_JSON, priority=_INT, triggers=_JSON, actions=_JSON,
        execution_count=_INT, success_count=_INT, failure_count=_INT,
        last_execution_at=_TIME, avg_execution_ms=_FLOAT,
        created_at=_TIME, updated_at=_TIME,
        paused_at=_TIME, paused_until=_TIME, max_concurrent=_INT, rate_limit=_TEXT,
        override_concurrent=_INT, override_rate=_TEXT, override_until=_TIME, flow_gated=_BOOL,
    ),
)  # fmt: skip

EXECUTION = sa.table(
    "workflow_execution",
    *_columns(
        id=_TEXT, workflow_id=_TEXT, workflow_version=_INT, status=_TEXT,
        trigger_type=_TEXT, error=_TEXT, error_signature=_TEXT, created_at=_TIME,
        started_at=_TIME, completed_at=_TIME, duration_ms=_FLOAT, retry_count=_INT,
        available_at=_TIME, lease_until=_TIME, worker_id=_TEXT, next_step=_INT,
        trigger_data=_JSON, result=_JSON, waiting=_TEXT,
    ),
)  # fmt: skip

WORKER_HEARTBEAT = sa.table(
    "worker_heartbeat",
    *_columns(
        worker_id=_TEXT, hostname=_TEXT, pid=_INT, kind=_TEXT,
        started_at=_TIME, last_seen_at=_TIME,
    ),
)  # fmt: skip

DEFINITION_GENERATION = sa.table(
    "definition_generation",
    *_columns(id=_INT, gen=sa.BigInteger(), changed_at=_TIME),
)

ALERT_EVENT = sa.table(
    "alert_event",
    *_columns(
        id=sa.BigInteger(), rule=_TEXT, subject=_TEXT, severity=_TEXT, message=_TEXT,
        value=_FLOAT, opened_at=_TIME, resolved_at=_TIME, notified_at=_TIME,
        notify_count=_INT, deliveries=_JSON,
    ),
)  # fmt: skip

ALL = (WORKFLOW, EXECUTION, WORKER_HEARTBEAT, DEFINITION_GENERATION, ALERT_EVENT)
