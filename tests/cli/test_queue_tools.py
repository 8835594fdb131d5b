"""``wfconsole maintenance queue [--json]`` and ``maintenance flush-locks [--dry-run]``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.db import Database, open_database
from engine.execution import claims as store
from engine.models import utcnow
from engine.plain_reads import queue_report
from engine.queue.heartbeat import write_beat
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from engine.workers.runtime import Queue
from tests.execution_support import execution_row, workflow_document
from wfconsole.cli import main

DEAD = "deadhost:101"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "wf.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "wf.db"}"\n'
        f'[queue]\npath = "{tmp_path / "queue.db"}"\nname = "cli-queue-tools"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def lost_run(config: Path) -> Iterator[tuple[Database, str]]:
    """A run claimed by a worker that stopped beating ten minutes ago, its lease over."""
    settings = load_settings(config)
    db = open_database(settings)
    save_document(db, workflow_document("hook", ["http://127.0.0.1:9/"]), actor="admin")
    [execution_id] = run_workflow(db, Queue(settings, db=db), "hook", actor="admin")
    now = utcnow()
    write_beat(db, f"{DEAD}:0a0b0c0d", kind="consumer", started_at=now - timedelta(hours=1),
               now=now - timedelta(minutes=10))  # fmt: skip
    with db.engine.begin() as conn:
        store.claim(conn, execution_id, now=now, lease_until=now - timedelta(seconds=5),
                    worker_id=DEAD, max_running=10)  # fmt: skip
    yield db, execution_id
    db.dispose()


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_queue_json_counts_messages_executions_workers_and_stale_leases(
    capsys: pytest.CaptureFixture[str], config: Path, lost_run: tuple[Database, str]
) -> None:
    _, execution_id = lost_run
    code, out, _ = run(capsys, config, "maintenance", "queue", "--json")
    document = json.loads(out)
    assert code == 0
    assert document["queue"] == {"kind": "sqlite", "queued": 1, "scheduled": 0, "error": None}
    assert document["executions"] == {"pending_due": 0, "pending_later": 0, "running": 1,
                                      "running_expired": 1, "held_by_dead": 0}  # fmt: skip
    assert document["workers"] == {"alive": 0, "dead": 1}
    [lease] = document["stale_leases"]
    assert (lease["id"], lease["workflow"], lease["worker_id"]) == (execution_id, "hook", DEAD)


def test_queue_text_names_the_stale_lease(
    capsys: pytest.CaptureFixture[str], config: Path, lost_run: tuple[Database, str]
) -> None:
    _, execution_id = lost_run
    code, out, _ = run(capsys, config, "maintenance", "queue")
    assert code == 0
    assert "queue       sqlite: 1 queued, 0 scheduled" in out
    assert "stale       1 lease(s), 0 lock(s)" in out
    assert f"lease  {execution_id}  hook" in out


def test_flush_dry_run_lists_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], config: Path, lost_run: tuple[Database, str]
) -> None:
    db, execution_id = lost_run
    code, out, _ = run(capsys, config, "maintenance", "flush-locks", "--dry-run")
    assert code == 0
    assert out.splitlines()[-1] == "would release 1 lease(s) and 0 lock(s)"
    assert execution_row(db, execution_id).status == "RUNNING"


def test_flush_hands_the_run_back_for_retry(
    capsys: pytest.CaptureFixture[str], config: Path, lost_run: tuple[Database, str]
) -> None:
    db, execution_id = lost_run
    code, out, _ = run(capsys, config, "maintenance", "flush-locks", "--user", "admin")
    assert code == 0
    assert out.splitlines()[-1].startswith("released 1 lease(s): 1 handed back for retry")
    row = execution_row(db, execution_id)
    assert (row.status, row.retry_count) == ("PENDING", 1)


def test_flush_by_a_viewer_is_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str], config: Path, lost_run: tuple[Database, str]
) -> None:
    db, execution_id = lost_run
    code, out, err = run(capsys, config, "maintenance", "flush-locks", "--user", "viewer")
    assert (code, out) == (1, "")
    assert err == "wfconsole: error: flush-locks: needs ADMIN (you are VIEWER)\n"
    assert execution_row(db, execution_id).status == "RUNNING"


@pytest.fixture
def three_lost_runs(config: Path, lost_run: tuple[Database, str]) -> list[str]:
    """Three runs held by the dead worker, their leases over."""
    db, first = lost_run
    settings = load_settings(config)
    ids = [first]
    for _ in range(2):
        [execution_id] = run_workflow(db, Queue(settings, db=db), "hook", actor="admin")
        now = utcnow()  # after the insert: a claim takes only runs already due
        with db.engine.begin() as conn:
            store.claim(conn, execution_id, now=now, lease_until=now - timedelta(seconds=5),
                        worker_id=DEAD, max_running=10)  # fmt: skip
        ids.append(execution_id)
    return ids


def test_queue_counts_every_stale_lease_beyond_the_listed_ones(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    three_lost_runs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queue_report, "LISTED_LEASES", 2)
    code, out, _ = run(capsys, config, "maintenance", "queue", "--json")
    document = json.loads(out)
    assert (code, document["stale_leases_total"], len(document["stale_leases"])) == (0, 3, 2)
    code, out, _ = run(capsys, config, "maintenance", "queue")
    assert code == 0
    assert "stale       3 lease(s), 0 lock(s)" in out
    assert "listing the oldest 2 lease(s); a flush releases those, run it again" in out


def test_flush_says_what_it_left_for_the_next_flush(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    lost_run: tuple[Database, str],
    three_lost_runs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, _ = lost_run
    monkeypatch.setattr(queue_report, "LISTED_LEASES", 2)
    code, out, _ = run(capsys, config, "maintenance", "flush-locks", "--user", "admin")
    assert code == 0
    assert out.splitlines()[-1] == (
        "1 more stale lease(s) were not in this flush: run flush-locks again"
    )
    code, out, _ = run(capsys, config, "maintenance", "flush-locks", "--user", "admin")
    assert code == 0
    assert out.splitlines()[-1].startswith("released 1 lease(s): 1 handed back for retry")
    assert {execution_row(db, i).status for i in three_lost_runs} == {"PENDING"}
