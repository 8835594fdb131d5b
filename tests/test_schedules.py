"""The schedules board and backfill, on SQLite and PostgreSQL.

An hourly schedule whose workflow was saved five hours before "now": the cron tick ran
some fire times (with its own keys), others are gaps. The board names the gaps and the
late start; backfill creates one run per gap in its range, keyed as the tick keys them,
so a time that ran is not doubled and a second backfill creates nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.access.roles import PermissionDenied
from engine.db import Database
from engine.execution import claims as store
from engine.models import AuditLog, Workflow, WorkflowTrigger, table_of
from engine.services.schedules import (
    MAX_FIRE_TIMES,
    TooManyFireTimes,
    backfill,
    schedule_board,
)
from engine.services.users import add_user
from engine.triggers.cron import cron_tick
from engine.workflow_cache.lookups import WorkflowNotFound
from tests.execution_support import Engine, make_engine

NOW = datetime(2026, 12, 6, 12, 30, tzinfo=UTC)
E = store.E


def at(hour: int, minute: int = 0) -> datetime:
    return NOW.replace(hour=hour, minute=minute)


@pytest.fixture
def engine(any_db: Database, tmp_path: Path) -> Engine:
    engine = make_engine(any_db, tmp_path)
    engine.workflow("hourly", ["http://127.0.0.1:9/"],
                    triggers=[{"type": "schedule", "cron": "0 * * * *"}])  # fmt: skip
    with engine.db.engine.begin() as conn:  # saved at 07:30
        conn.execute(sa.update(table_of(Workflow)).values(updated_at=at(7, 30)))
    return engine


def tick_at(engine: Engine, fire: datetime, *, late: float = 0.0) -> str:
    """What the cron tick creates for ``fire`` (its own key), started ``late`` s after."""
    with engine.db.engine.begin() as conn:
        conn.execute(sa.update(table_of(WorkflowTrigger)).values(next_fire_at=fire))
    [execution_id] = cron_tick(engine.db, engine.queue, engine.settings, now=fire)
    with engine.db.engine.begin() as conn:
        conn.execute(
            sa.update(store.EXECUTIONS)
            .where(E.id == execution_id)
            .values(status="SUCCESS", started_at=fire + timedelta(seconds=late),
                    completed_at=fire + timedelta(seconds=late + 1))
        )  # fmt: skip
    return execution_id


def keys(engine: Engine) -> list[str]:
    with engine.db.engine.connect() as conn:
        return sorted(str(k) for k in conn.execute(sa.select(E.dedupe_key)).scalars())


def test_the_board_names_gaps_and_late_starts_since_the_version_was_saved(engine: Engine) -> None:
    tick_at(engine, at(9))
    tick_at(engine, at(11), late=300)

    [row] = schedule_board(engine.db, now=NOW)

    assert (row.trigger.workflow, row.trigger.cron, row.fire_times) == ("hourly", "0 * * * *", 5)
    assert row.gaps == [at(8), at(10), at(12)]  # 07:00 came before the version was saved
    assert [(x.fire_time, x.late_seconds) for x in row.late] == [(at(11), 300.0)]
    assert row.last_success_at is not None and row.last_run_status == "SUCCESS"
    document = row.as_json(NOW)
    assert document["gaps"] == [at(8).isoformat(), at(10).isoformat(), at(12).isoformat()]
    assert document["late"][0]["late_seconds"] == 300.0


def test_backfill_creates_one_run_per_missing_fire_time_once(engine: Engine) -> None:
    tick_at(engine, at(11))
    since = at(9, 30)

    preview = backfill(engine.db, engine.queue, "hourly", since=since, dry_run=True,
                       actor="tester", now=NOW)  # fmt: skip
    assert [fire for _, fire in preview.missing] == [at(10), at(12)]
    assert (preview.already_ran, preview.created) == (1, [])
    assert len(keys(engine)) == 1  # a dry run creates nothing

    done = backfill(engine.db, engine.queue, "hourly", since=since, actor="tester", now=NOW)
    again = backfill(engine.db, engine.queue, "hourly", since=since, actor="tester", now=NOW)

    assert len(done.created) == 2 and again.created == [] and again.missing == []
    # The keys are the tick's own: <workflow id>:<position>:<fire time>.
    with engine.db.engine.connect() as conn:
        workflow_id = conn.execute(sa.select(table_of(Workflow).c.id)).scalar_one()
        rows = conn.execute(
            sa.select(E.status, E.trigger_type, E.trigger_data).where(E.id.in_(done.created))
        ).all()
        audit = conn.execute(
            sa.select(table_of(AuditLog).c.details).where(
                table_of(AuditLog).c.action == "schedule.backfill"
            )
        ).scalars().all()  # fmt: skip
    expected = [f"{workflow_id}:0:{t.isoformat()}" for t in (at(10), at(11), at(12))]
    assert keys(engine) == sorted(expected)
    assert {(r.status, r.trigger_type) for r in rows} == {("PENDING", "schedule")}
    assert sorted(r.trigger_data["scheduled_for"] for r in rows) == [
        at(10).isoformat(), at(12).isoformat()]  # fmt: skip
    assert all(r.trigger_data["backfill"] is True for r in rows)
    assert [d["created"] for d in audit] == [2]  # the second created nothing: not audited


def test_backfill_refuses_what_it_cannot_do_and_changes_nothing(engine: Engine) -> None:
    with pytest.raises(WorkflowNotFound):
        backfill(engine.db, engine.queue, "nope", since=at(9), actor="tester", now=NOW)
    with pytest.raises(ValueError, match="after until"):
        backfill(engine.db, engine.queue, "hourly", since=at(12), until=at(9), actor="tester",
                 now=NOW)  # fmt: skip
    engine.workflow("minutely", ["http://127.0.0.1:9/"],
                    triggers=[{"type": "schedule", "cron": "* * * * *"}])  # fmt: skip
    with pytest.raises(TooManyFireTimes, match=f"{MAX_FIRE_TIMES:,}"):
        backfill(engine.db, engine.queue, "minutely", since=NOW - timedelta(days=30),
                 actor="tester", now=NOW)  # fmt: skip
    add_user(engine.db, "viewer-vic", "VIEWER", actor="tester")
    with pytest.raises(PermissionDenied):
        backfill(engine.db, engine.queue, "hourly", since=at(9), actor="viewer-vic", now=NOW)
    assert keys(engine) == []


def test_the_api_serves_the_board_to_a_viewer_and_checks_its_parameter(
    engine: Engine, tmp_path: Path
) -> None:
    from engine.models import Role
    from tests.api_client import running_api

    for api in running_api(engine.db, tmp_path):
        reply = api.call("GET", "/schedules?window_hours=48", Role.VIEWER)
        assert reply.status_code == 200, reply.text
        [row] = reply.json()["schedules"]
        assert row["workflow"] == "hourly" and row["cron"] == "0 * * * *"
        assert row["fire_times_in_window"] >= 1 and len(row["gaps"]) == row["fire_times_in_window"]
        bad = api.call("GET", "/schedules?window_hours=0", Role.VIEWER)
        assert bad.status_code == 400 and bad.json()["field"] == "window_hours"
        assert api.call("GET", "/schedules?days=2", Role.VIEWER).status_code == 400
