"""Flow control as the rest of the engine sees it: /metrics, the dashboard, the gated
claim's decisions, the sweeper and the automatic resume (in-process, SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.definitions.durations import format_duration, parse_duration, parse_rate
from engine.execution.claims import EXECUTIONS, E, W
from engine.http.metrics import scrape
from engine.models import AuditLog, table_of, utcnow
from engine.queue.sweeper import sweep
from engine.services.dashboard import collect_dashboard
from engine.services.flow_control import auto_resume_due, held_summary, pause
from engine.services.flow_limits import expire_overrides, limit_state, set_limit
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow

AUDIT = table_of(AuditLog)

FLOW = {"name": "flow", "triggers": [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "t"}]}  # fmt: skip


class Recorder:
    """A Dispatcher that remembers what it was asked to enqueue."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, float | None]] = []

    def dispatch(self, execution_id: str, delay: float | None = None) -> None:
        self.sent.append((execution_id, delay))


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    save_document(sqlite_db, FLOW, actor="root")
    save_document(sqlite_db, {**FLOW, "name": "other"}, actor="root")
    return sqlite_db


def test_durations_and_rates_parse_strictly() -> None:
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("2d") == timedelta(days=2)
    assert format_duration(timedelta(hours=2)) == "2h"
    assert parse_rate("10/m") == (10, 60)
    for bad in ("", "1", "1 h", " 1h", "1h\n", "-1h", "1.5h", "\uff11h", "0s", "367d", "1w"):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)
    for bad in ("0/s", "1/h", "1/ s", "x/s", "1/s\n", ""):
        with pytest.raises(ValueError, match="invalid rate"):
            parse_rate(bad)


def test_metrics_and_dashboard_show_the_paused_workflows(db: Database) -> None:
    pause(db, "flow", actor="root")
    families = {family.name: family for family in scrape(db, None)}
    samples = {s.labels["workflow"]: s.value for s in families["wfconsole_workflow_paused"].samples}
    assert samples == {"flow": 1, "other": 0}
    dashboard = collect_dashboard(db, _NoQueue(), now=utcnow(), heartbeat_interval=5)
    assert (dashboard.paused_workflows, dashboard.paused_count) == (["flow"], 1)


class _NoQueue:
    def pending_count(self) -> int:
        return 0

    def scheduled_count(self) -> int:
        return 0


def test_the_sweeper_leaves_held_runs_alone_and_resume_for_is_done_once(db: Database) -> None:
    pause(db, "flow", actor="root", for_="1h", catch_up="latest")
    queue = Recorder()
    held = [run_workflow(db, queue, "flow", actor="root")[0] for _ in range(3)]
    other = run_workflow(db, queue, "other", actor="root")
    with db.engine.begin() as conn:  # long overdue: the sweeper would re-enqueue them
        conn.execute(sa.update(EXECUTIONS).values(available_at=utcnow() - timedelta(hours=1)))
    report = sweep(db, queue_depth=0, heartbeat_interval=5.0, queue_emptied=True)
    assert report.enqueue == other
    summary = held_summary(db, "flow")
    assert (summary.held, summary.newest_id, summary.paused_until is not None) == (
        3, held[-1], True,
    )  # fmt: skip
    assert auto_resume_due(db, utcnow(), queue) == []  # not yet
    later = utcnow() + timedelta(hours=2)
    queue.sent.clear()
    [resumed] = auto_resume_due(db, later, queue)
    assert (resumed.catch_up, resumed.started, resumed.cancelled) == ("latest", [held[-1]], 2)
    assert queue.sent == [(held[-1], None)]
    assert auto_resume_due(db, later, queue) == []  # another worker finds nothing to do
    with db.engine.connect() as conn:
        gated = conn.execute(sa.select(W.flow_gated).where(W.name == "flow")).scalar_one()
    assert not gated


def test_an_expired_override_gives_way_to_the_definition(db: Database) -> None:
    save_document(db, {**FLOW, "max_concurrent": 3}, actor="root")
    set_limit(db, "flow", actor="root", concurrency=1, rate="5/s", for_="10m")
    state = limit_state(db, "flow")
    assert (state.concurrency, state.rate, state.definition_concurrency) == (1, "5/s", 3)
    queue = Recorder()
    ids = run_workflow(db, queue, "flow", actor="root")
    with db.engine.begin() as conn:  # a run the limit held
        conn.execute(sa.update(EXECUTIONS).where(E.id == ids[0]).values(waiting="limit"))
    assert expire_overrides(db, utcnow(), queue) == 0
    queue.sent.clear()
    assert expire_overrides(db, utcnow() + timedelta(minutes=11), queue) == 1
    assert queue.sent == [(ids[0], None)]  # looked at again under the definition's limit
    state = limit_state(db, "flow")
    assert (state.concurrency, state.rate, state.override_until) == (3, None, None)
    with db.engine.connect() as conn:  # the worker's expiry is audited, as its resume is
        audited = conn.execute(
            sa.select(AUDIT.c.actor, AUDIT.c.details).where(
                AUDIT.c.action == "workflow.limit.expire"
            )
        ).one()
    assert audited.actor == "wfconsole-worker"
    assert (audited.details["name"], audited.details["concurrency"]) == ("flow", 1)
