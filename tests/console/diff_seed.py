"""Seeds for the run diff and the schedules board, on top of the console's seeded database.

Run diff: in the seeded database (``conftest.seed_executions``) invoice-alert's runs are
executions 7 (SUCCESS) to 12, 8 being its FAILED one. Both get the two steps of the
definition: 7 succeeded at both, 8 failed at step 1 (create_task) with an error holding
markup, so the first difference is step 1.

Schedules: an hourly schedule ("hourly-sync") saved at 07:30 on BASE_TIME's day, with the
board's clock pinned at 12:30. The tick ran 09:00 (on time, SUCCESS) and 11:00 (five
minutes late, FAILED); 08:00, 10:00 and 12:00 are gaps. nightly-report (disabled, 02:00
daily) was saved three days before and never ran: 02:00 is a gap too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from engine.db import Database, session_scope
from engine.models import Workflow, WorkflowExecution, WorkflowExecutionStep, WorkflowTrigger
from engine.services.schedules import schedule_triggers
from engine.services.workflows import save_document
from tests.console.conftest import BASE_TIME, execution_id

GOOD_RUN = execution_id(7)
BAD_RUN = execution_id(8)
STEP_ERROR = "HTTP 503 from https://tasks.example.com [@click=app.quit]boom[/] \x1b[2J"
BOARD_NOW = BASE_TIME.replace(hour=12, minute=30)
HOURLY = "hourly-sync"


def hour(value: int) -> datetime:
    """A time on the board's day."""
    return BASE_TIME.replace(hour=value, minute=0)


def _step(run: str, index: int, action: str, status: str, **extra: Any) -> WorkflowExecutionStep:
    return WorkflowExecutionStep(
        execution_id=run, step_index=index, action_type=action, status=status, attempt=1,
        started_at=BASE_TIME, completed_at=BASE_TIME, **extra,
    )  # fmt: skip


def add_diff_steps(db: Database) -> None:
    """Steps for invoice-alert's good run (7) and bad run (8): the bad one fails at step 1."""
    with session_scope(db) as session:
        session.add_all([
            _step(GOOD_RUN, 0, "slack", "SUCCESS", result={"ts": "1.1"}, duration_ms=120.0),
            _step(GOOD_RUN, 1, "create_task", "SUCCESS", result={"task_id": 7}, duration_ms=15.0),
            _step(BAD_RUN, 0, "slack", "SUCCESS", result={"ts": "1.1"}, duration_ms=130.0),
            _step(BAD_RUN, 1, "create_task", "FAILED", error=STEP_ERROR, duration_ms=2300.0),
        ])  # fmt: skip


def _set_saved_at(db: Database, name: str, saved: datetime, next_fire: datetime) -> None:
    with session_scope(db) as session:
        workflow = session.exec(select(Workflow).where(Workflow.name == name)).one()
        workflow.updated_at = saved
        for trigger in session.exec(
            select(WorkflowTrigger).where(
                WorkflowTrigger.workflow_id == workflow.id, WorkflowTrigger.type == "schedule"
            )
        ):
            trigger.next_fire_at = next_fire


def _ran(db: Database, fire: datetime, *, status: str, late: timedelta, number: int) -> None:
    [trigger] = schedule_triggers(db, HOURLY)
    started = fire + late
    with session_scope(db) as session:
        session.add(
            WorkflowExecution(
                id=execution_id(number), workflow_id=trigger.workflow_id, status=status,
                trigger_type="schedule", trigger_data={"scheduled_for": fire.isoformat()},
                dedupe_key=trigger.key(fire), created_at=fire, started_at=started,
                completed_at=started + timedelta(seconds=1), duration_ms=1000.0,
                available_at=fire, error="timeout" if status == "FAILED" else None,
            )
        )  # fmt: skip


def seed_schedules(db: Database) -> None:
    """The hourly schedule with two runs and three gaps; nightly-report's one gap."""
    save_document(
        db,
        {"name": HOURLY, "triggers": [{"type": "manual"},
                                      {"type": "schedule", "cron": "0 * * * *"}],
         "actions": [{"type": "create_task", "title": "Sync"}]},
        actor="tester",
    )  # fmt: skip
    _set_saved_at(db, HOURLY, hour(7).replace(minute=30), hour(13))
    _set_saved_at(db, "nightly-report", BOARD_NOW - timedelta(days=3), hour(2) + timedelta(days=1))
    _ran(db, hour(9), status="SUCCESS", late=timedelta(seconds=2), number=901)
    _ran(db, hour(11), status="FAILED", late=timedelta(minutes=5), number=902)


def schedule_keys(db: Database) -> list[str]:
    """The dedupe keys of hourly-sync's executions, sorted."""
    [trigger] = schedule_triggers(db, HOURLY)
    with db.read_session() as session:
        rows = session.exec(
            select(WorkflowExecution.dedupe_key).where(
                WorkflowExecution.workflow_id == trigger.workflow_id
            )
        ).all()
    return sorted(str(key) for key in rows if key)
