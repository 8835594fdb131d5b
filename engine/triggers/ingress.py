"""Conditions decided at ingress: a run whose conditions are false is stored SKIPPED.

Every trigger (webhook, event, manual run, cron) builds its execution rows, then asks
``decide`` before inserting them. A row whose workflow's conditions are false for it goes
in as SKIPPED — ``started_at``, ``completed_at``, ``duration_ms`` 0 — with the log line the
executor writes for it (``SKIPPED_LOG``) and the workflow's counters, in the trigger's own
transaction (``skipped_logs`` / ``skipped_counters``), and is never enqueued: no message, no
claim, no commit round for a run that does nothing.

The conditions see what the executor would give them at step 0: ``trigger`` (the data as
stored), ``workflow`` (id, name, version), ``execution`` (id, ``retry_count`` 0,
``trigger_type``) and no ``steps``, so the answer is the executor's. A row this module
cannot decide (its definition unreadable) stays PENDING and the executor decides, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from engine.db import Database
from engine.definitions.conditions import evaluate
from engine.execution.claims import CounterDelta
from engine.execution.decisions import SKIPPED_LOG
from engine.execution.executor import DefinitionCache
from engine.models import ExecutionStatus, LogLevel

log = logging.getLogger("wfconsole.runs")
SKIPPED = ExecutionStatus.SKIPPED.value

# Definitions by (workflow id, version): a version never changes, so one cache per process
# serves every database (ids are UUIDv7, never reused).
_DEFINITIONS = DefinitionCache()


def decide(db: Database, rows: Iterable[dict[str, Any]]) -> None:
    """Mark the rows whose conditions are false SKIPPED (in place); the rest stay PENDING."""
    for row in rows:
        if row.get("status") != ExecutionStatus.PENDING.value or row.get("next_step"):
            continue
        try:
            definition = _DEFINITIONS.get(db, row["workflow_id"], row["workflow_version"])
            if definition.conditions is None:
                continue
            context = {
                "trigger": row["trigger_data"],
                "workflow": {
                    "id": row["workflow_id"],
                    "name": definition.name,
                    "version": row["workflow_version"],
                },
                "execution": {
                    "id": row["id"],
                    "retry_count": row.get("retry_count", 0),
                    "trigger_type": row["trigger_type"],
                },
                "steps": [],
            }
            met = evaluate(definition.conditions, context)
        except Exception as exc:  # the executor decides instead, as it always did
            log.debug("conditions of %s not decided at ingress: %s", row["id"], exc)
            continue
        if not met:
            skip(row)


def skip(row: dict[str, Any]) -> None:
    """Turn a new PENDING row into a finished SKIPPED one."""
    now = row["created_at"]
    row.update(status=SKIPPED, started_at=now, completed_at=now, duration_ms=0.0)


def pending_ids(rows: Sequence[Mapping[str, Any]], ids: Iterable[str] | None = None) -> list[str]:
    """The ids to enqueue: the PENDING rows (among ``ids`` when given, in their order)."""
    pending = {row["id"] for row in rows if row["status"] != SKIPPED}
    if ids is None:
        return [row["id"] for row in rows if row["id"] in pending]
    return [i for i in ids if i in pending]


def skipped_rows(
    rows: Iterable[Mapping[str, Any]], inserted: Iterable[str] | None = None
) -> list[Mapping[str, Any]]:
    """The SKIPPED rows (among the ``inserted`` ids when given)."""
    keep = None if inserted is None else set(inserted)
    return [r for r in rows if r["status"] == SKIPPED and (keep is None or r["id"] in keep)]


def skipped_logs(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The log row of each skipped run."""
    return [
        {
            "execution_id": row["id"],
            "level": LogLevel.INFO.value,
            "message": SKIPPED_LOG,
            "data": None,
            "step_index": None,
            "timestamp": row["completed_at"],
        }
        for row in rows
    ]


def skipped_counters(rows: Sequence[Mapping[str, Any]]) -> dict[str, CounterDelta]:
    """Per workflow, the skipped runs to add to its counters (one UPDATE each)."""
    counters: dict[str, CounterDelta] = {}
    for row in rows:
        completed: datetime = row["completed_at"]
        counters.setdefault(row["workflow_id"], CounterDelta()).add(SKIPPED, None, completed)
    return counters
