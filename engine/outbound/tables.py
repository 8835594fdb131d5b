"""The destination tables (and the execution columns a wait uses) as lightweight Core
clauses, so the board and the gate load neither SQLModel nor ``engine.models``.

Same names and result types as ``engine.models.DestinationState``, ``DestinationMinute``
and ``WorkflowExecution`` (``tests/outbound/test_destination_board.py`` keeps them in step).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from engine.core_tables import UTCDateTime

_TEXT, _INT, _FLOAT, _JSON, _TIME = sa.String(), sa.Integer(), sa.Float(), sa.JSON(), UTCDateTime()

STATES = sa.table(
    "destination_state",
    sa.column("destination", _TEXT), sa.column("held_at", _TIME), sa.column("held_by", _TEXT),
    sa.column("held_until", _TIME), sa.column("breaker_state", _TEXT),
    sa.column("consecutive_failures", _INT), sa.column("opened_at", _TIME),
    sa.column("probe_by", _TEXT), sa.column("generation", _INT), sa.column("updated_at", _TIME),
)  # fmt: skip
MINUTES = sa.table(
    "destination_minute",
    sa.column("destination", _TEXT), sa.column("minute", _TIME), sa.column("worker_id", _TEXT),
    sa.column("calls", _INT), sa.column("errors", _INT), sa.column("rate_limited", _INT),
    sa.column("last_retry_after", _FLOAT), sa.column("last_retry_after_at", _TIME),
    sa.column("latency_ms_sum", _FLOAT), sa.column("latency_buckets", _JSON),
)  # fmt: skip
EXECUTIONS = sa.table(
    "workflow_execution",
    sa.column("id", _TEXT), sa.column("workflow_id", _TEXT), sa.column("status", _TEXT),
    sa.column("waiting", _TEXT), sa.column("waiting_for", _TEXT),
    sa.column("available_at", _TIME),
)  # fmt: skip
ALL = (STATES, MINUTES, EXECUTIONS)
PENDING = "PENDING"


def utc_now() -> datetime:
    """Now, aware UTC (``engine.models.utcnow`` without importing the models)."""
    return datetime.now(UTC)
