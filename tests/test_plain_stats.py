"""``wfconsole stats`` read plainly (the driver alone, issue 15) prints what the full path
prints: the same document on a demo history that gives every figure something to count,
on SQLite and PostgreSQL, with every failure signed and with some left unsigned (rows
failed before migration 0008), and with a queue file that cannot be read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.core_tables import EXECUTION
from engine.db import Database
from engine.demo.seed import seed_demo
from engine.plain_reads.figure_sql import tuned_rows
from engine.plain_reads.reader import Reader
from engine.plain_reads.statistics import WINDOW_PARTS
from engine.plain_reads.target import open_reader, plain_target
from tests.cli.runner import Cli, runner
from tests.test_plain_reads import readers_opened

E = EXECUTION.c


class FrozenClock(datetime):
    """``datetime`` whose ``now`` is fixed: both runs read at the same instant, so an hour
    or a day turning between them cannot change a figure."""

    frozen = datetime.now(UTC)

    @classmethod
    def now(cls, tz: Any = None) -> FrozenClock:
        return cls.fromtimestamp(cls.frozen.timestamp(), tz)


@pytest.fixture
def history(any_db: Database) -> Database:
    """Demo workflows and 1,500 runs of the past days: successes and failures of several
    signatures (with durations), across several workflows and days."""
    seed_demo(any_db, executions=1_500, actor="root")
    return any_db


def both_ways(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch,
    queue_path: Path,
) -> tuple[Cli, Cli, list[bool], int]:  # fmt: skip
    """A CLI on plain settings, one on settings that need the full path (a section the
    plain read does not accept), whether each reader the plain path asked for opened, and
    how many it should ask for: its own, then one for each window read in a thread (the
    failure reasons, and the daily figures in ``WINDOW_PARTS`` parts on PostgreSQL)."""
    queue = json.dumps(str(queue_path))
    plain = tmp_path / "plain.toml"
    plain.write_text(f'[database]\nurl = "{db.url}"\n[queue]\npath = {queue}\n', "utf-8")
    full = tmp_path / "full.toml"
    full.write_text(plain.read_text("utf-8") + "[retention]\nlogs_days = 90\n", "utf-8")
    opened = readers_opened(mp)
    FrozenClock.frozen = datetime.now(UTC)
    mp.setattr("wfconsole.cli.commands.stats.datetime", FrozenClock)
    readers = 2 + (1 if db.is_sqlite else WINDOW_PARTS)
    return runner(capsys, plain), runner(capsys, full), opened, readers


def documents(plain_cli: Cli, full_cli: Cli, opened: list[bool], readers: int) -> dict[str, Any]:
    """Both runs' ``stats --json``, checked equal; the plain one."""
    plain, full = plain_cli("stats", "--json"), full_cli("stats", "--json")
    # The plain path's reader, then one of its own for each window read (in threads); the
    # full path never tried one.
    assert opened == [True] * readers
    assert (plain.code, plain.err) == (full.code, full.err) == (0, "")
    plain_doc, full_doc = json.loads(plain.out), json.loads(full.out)
    assert plain_doc == full_doc
    assert plain_doc["taken_at"] == FrozenClock.frozen.isoformat()
    return dict(plain_doc)


def test_stats_print_the_same_the_plain_way_and_the_full_way(
    history: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    plain_cli, full_cli, opened, readers = both_ways(
        history, tmp_path, capsys, monkeypatch, tmp_path / "queue.db"
    )
    document = documents(plain_cli, full_cli, opened, readers)
    # Every figure has something in it, so equal documents compare real readings.
    summary = document["summary"]
    assert summary["succeeded"] > 0 and summary["failed"] > 0
    assert summary["success_rate"] is not None and summary["p95_duration_ms"] is not None
    assert sum(hour["finished"] for hour in document["executions_per_hour"]) > 0
    assert len([day for day in document["daily"] if day["finished"]]) > 2
    assert len(document["most_executed_workflows"]) > 2
    assert len(document["top_failing_workflows"]) > 1
    assert len(document["failure_reasons"]) > 2
    assert sum(day["workflows"] for day in document["workflows_created"]) > 0
    assert document["queue"] == {
        "queued": 0, "scheduled": 0, "running": document["queue"]["running"],
        "pending": document["queue"]["pending"], "error": None,
    }  # fmt: skip
    report = plain_cli("stats")
    assert report.code == 0 and report.out == full_cli("stats").out
    assert "failure reasons (30 d)" in report.out


def test_unsigned_failures_read_the_same_either_way(
    history: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    with history.engine.begin() as conn:
        failed = conn.execute(sa.select(E.id).where(E.status == "FAILED").order_by(E.id))
        unsigned = list(failed.scalars())[::2]
        for start in range(0, len(unsigned), 500):
            part = unsigned[start : start + 500]
            conn.execute(sa.update(EXECUTION).where(E.id.in_(part)).values(error_signature=None))
    assert len(unsigned) > 20
    document = documents(*both_ways(history, tmp_path, capsys, monkeypatch, tmp_path / "queue.db"))
    assert len(document["failure_reasons"]) > 2


def test_a_queue_that_cannot_be_read_is_reported_the_same_either_way(
    history: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    not_a_queue = tmp_path / "queue.db"
    not_a_queue.write_bytes(b"this is not a SQLite file" * 100)
    document = documents(*both_ways(history, tmp_path, capsys, monkeypatch, not_a_queue))
    queue = document["queue"]
    assert (queue["queued"], queue["scheduled"]) == (None, None)
    assert queue["error"] == "file is not a database"


def test_planner_settings_hold_for_their_query_only(postgres_db: Database, tmp_path: Path) -> None:
    """``tuned_rows`` sets PostgreSQL's planner settings for one query's transaction: on a
    pooled engine connection (not autocommit) and on the plain read's own (autocommit),
    the next query on the same connection plans with the server's settings again."""
    setting = "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')"
    tuning = {"jit": "off", "max_parallel_workers_per_gather": "0"}
    with Reader.of_engine(postgres_db.read_engine) as pooled:
        default = tuple(pooled.rows(setting)[0])
        assert default != ("off", "0")  # so that ("off", "0") below is the settings' doing
        assert tuple(tuned_rows(pooled, setting, settings=tuning)[0]) == ("off", "0")
        assert tuple(pooled.rows(setting)[0]) == default
    config = tmp_path / "plain.toml"
    config.write_text(f'[database]\nurl = "{postgres_db.url}"\n', "utf-8")
    found = plain_target(config, environ={})
    assert found is not None
    own = open_reader(found)
    assert own is not None and own.connection.autocommit
    try:
        assert tuple(tuned_rows(own, setting, settings=tuning)[0]) == ("off", "0")
        assert tuple(own.rows(setting)[0]) == default
    finally:
        own.connection.close()
