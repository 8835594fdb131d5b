"""``wfconsole maintenance queue`` read plainly (the driver alone, issue 15) prints what
the full path prints, byte for byte, on SQLite and PostgreSQL: PENDING due and later,
RUNNING within and past the lease, live and silent workers, stale leases. A queue file
holding locks goes the full way, whose signed serializer reads their holders — and a
forged, unsigned lock value is never unpickled either way."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.config import QueueSettings, load_settings
from engine.core_tables import EXECUTION
from engine.db import Database
from engine.execution import claims as store
from engine.plain_reads import queue_report
from engine.plain_reads.target import plain_target
from engine.queue.heartbeat import write_beat
from engine.queue.locks import hold_lock, lock_prefix
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from engine.workers.runtime import Queue
from tests.cli.runner import Cli, runner
from tests.execution_support import workflow_document
from wfconsole.cli.commands import queue_tools as command
from wfconsole.cli.output import timestamp

E = EXECUTION.c
DEAD = "deadhost:101:0a0b0c0d"
ALIVE = "livehost:202:0e0f0a0b"


class FrozenClock(datetime):
    """``datetime`` whose ``now`` is fixed: both runs read at the same instant."""

    frozen = datetime.now(UTC)

    @classmethod
    def now(cls, tz: Any = None) -> FrozenClock:
        return cls.fromtimestamp(cls.frozen.timestamp(), tz)


class Canary:
    """A value whose unpickling creates ``marker``: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def configs(any_db: Database, tmp_path: Path) -> tuple[Path, Path]:
    """Plain settings, and the same with a section the plain read does not accept."""
    plain = tmp_path / "plain.toml"
    queue = json.dumps(str(tmp_path / "queue.db"))
    plain.write_text(
        f'[database]\nurl = "{any_db.url}"\n[queue]\npath = {queue}\nname = "plain-queue"\n',
        "utf-8",
    )
    full = tmp_path / "full.toml"
    full.write_text(plain.read_text("utf-8") + "[retention]\nlogs_days = 90\n", "utf-8")
    return plain, full


@pytest.fixture
def busy_queue(any_db: Database, configs: tuple[Path, Path]) -> Iterator[Queue]:
    """Six runs of one workflow (one message in the queue file names them all): two
    PENDING due, one PENDING waiting for a retry, one RUNNING held by a live worker, one by
    a silent worker within its lease, and one stale lease (past it, silent worker); and a
    silent worker whose process still beats under another row (not counted as stopped)."""
    queue = Queue(load_settings(configs[0]), db=any_db)
    save_document(any_db, workflow_document("hook", ["http://127.0.0.1:9/"]), actor="admin")
    ids = run_workflow(any_db, queue, "hook", actor="admin", count=6)
    now = datetime.now(UTC)
    write_beat(any_db, ALIVE, kind="consumer", started_at=now - timedelta(hours=1), now=now)
    for silent in (DEAD, "livehost:202:old"):
        write_beat(any_db, silent, kind="consumer", started_at=now - timedelta(hours=1),
                   now=now - timedelta(minutes=10))  # fmt: skip
    with any_db.engine.begin() as conn:
        conn.execute(sa.update(EXECUTION).where(E.id == ids[0])
                     .values(available_at=now + timedelta(minutes=5)))  # fmt: skip
        for execution_id, worker, lease in (
            (ids[1], ALIVE, now - timedelta(seconds=30)),
            (ids[2], DEAD, now + timedelta(minutes=5)),
            (ids[3], DEAD, now - timedelta(seconds=5)),
        ):
            store.claim(conn, execution_id, now=now, lease_until=lease, worker_id=worker,
                        max_running=10)  # fmt: skip
    yield queue


def both_ways(
    capsys: pytest.CaptureFixture[str], configs: tuple[Path, Path], mp: pytest.MonkeyPatch
) -> tuple[Cli, Cli, list[bool]]:
    """The two CLIs, and whether each plain read (of the plain CLI) answered."""
    answered: list[bool] = []
    real = command._plain_report

    def spy(*args: Any, **kwargs: Any) -> Any:
        report = real(*args, **kwargs)
        answered.append(report is not None)
        return report

    mp.setattr(command, "_plain_report", spy)
    FrozenClock.frozen = datetime.now(UTC)
    mp.setattr(command, "datetime", FrozenClock)
    return runner(capsys, configs[0]), runner(capsys, configs[1]), answered


def same_output(plain_cli: Cli, full_cli: Cli, *args: str) -> tuple[int, str]:
    """Both runs' output of ``maintenance queue *args``, checked byte-identical."""
    plain, full = plain_cli("maintenance", "queue", *args), full_cli("maintenance", "queue", *args)
    assert (plain.code, plain.out, plain.err) == (full.code, full.out, full.err)
    return plain.code, plain.out


def test_the_report_reads_the_same_the_plain_way_and_the_full_way(
    busy_queue: Queue, configs: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    plain_cli, full_cli, answered = both_ways(capsys, configs, monkeypatch)
    code, out = same_output(plain_cli, full_cli, "--json")
    assert answered == [True]  # the plain read answered; the full CLI never asked it
    document = json.loads(out)
    assert code == 0
    assert document["queue"] == {"kind": "sqlite", "queued": 1, "scheduled": 0, "error": None}
    assert document["executions"] == {"pending_due": 2, "pending_later": 1, "running": 3,
                                      "running_expired": 2, "held_by_dead": 1}  # fmt: skip
    assert document["workers"] == {"alive": 1, "dead": 1}
    [lease] = document["stale_leases"]
    assert (lease["workflow"], lease["worker_id"]) == ("hook", DEAD)
    assert (document["stale_leases_total"], document["locks"]) == (1, [])
    assert document["taken_at"] == timestamp(FrozenClock.frozen)

    code, out = same_output(plain_cli, full_cli)
    assert code == 0 and answered == [True, True]
    assert "stale       1 lease(s), 0 lock(s)" in out


def test_the_listing_is_cut_at_the_same_place_either_way(
    busy_queue: Queue, configs: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, any_db: Database,
) -> None:  # fmt: skip
    save_document(any_db, workflow_document("other", ["http://127.0.0.1:9/"]), actor="admin")
    more = run_workflow(any_db, busy_queue, "other", actor="admin", count=3)
    now = datetime.now(UTC)  # after the insert: a claim takes only runs already due
    with any_db.engine.begin() as conn:
        for index, execution_id in enumerate(more):
            store.claim(conn, execution_id, now=now, worker_id=DEAD, max_running=10,
                        lease_until=now - timedelta(minutes=index + 1))  # fmt: skip
    monkeypatch.setattr(queue_report, "LISTED_LEASES", 2)
    plain_cli, full_cli, answered = both_ways(capsys, configs, monkeypatch)
    _, out = same_output(plain_cli, full_cli, "--json")
    document = json.loads(out)
    assert (document["stale_leases_total"], len(document["stale_leases"])) == (4, 2)
    _, text = same_output(plain_cli, full_cli)
    assert "listing the oldest 2 lease(s)" in text and answered == [True, True]


def test_a_queue_holding_locks_goes_the_full_way_and_no_lock_is_unpickled(
    busy_queue: Queue, configs: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    """Holders are read through the queue's signed serializer: a value written without
    the signing key (here a pickle that would leave a mark) holds a lock of unknown
    holder, stale only while no worker at all beats."""
    huey = busy_queue.huey
    proof = tmp_path / "canary-works"
    pickle.loads(pickle.dumps(Canary(proof)))  # what an unpickling reader would do
    assert proof.exists()
    marker = tmp_path / "unpickled"
    forged = pickle.dumps(Canary(marker))
    assert huey.storage.put_if_empty(lock_prefix(huey) + "forged", forged)
    plain_cli, full_cli, answered = both_ways(capsys, configs, monkeypatch)
    with ExitStack() as held:
        held.enter_context(hold_lock(huey, "export", DEAD))
        held.enter_context(hold_lock(huey, "import", ALIVE))
        code, out = same_output(plain_cli, full_cli, "--json")
        _, text = same_output(plain_cli, full_cli)
    assert answered == [False, False]  # the lock sent the plain read the full way
    assert code == 0 and not marker.exists()
    assert json.loads(out)["locks"] == [
        {"name": "export", "owner": DEAD, "stale": True},
        {"name": "forged", "owner": None, "stale": False},  # a worker beats
        {"name": "import", "owner": ALIVE, "stale": False},
    ]
    assert "stale       1 lease(s), 1 lock(s)" in text
    # A plain Huey lock (signed, naming no holder) is a lock too.
    huey.storage.delete_data(lock_prefix(huey) + "forged")
    huey.lock_task("plain").acquire()
    assert json.loads(same_output(plain_cli, full_cli, "--json")[1])["locks"] == [
        {"name": "plain", "owner": None, "stale": False}
    ]
    assert answered[-1] is False and not marker.exists()


def test_a_queue_file_not_created_yet_holds_nothing_either_way(
    any_db: Database, configs: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    plain_cli, full_cli, answered = both_ways(capsys, configs, monkeypatch)
    plain = plain_cli("maintenance", "queue", "--json")
    assert not (tmp_path / "queue.db").exists()  # the plain read creates nothing
    full = full_cli("maintenance", "queue", "--json")
    assert (plain.code, plain.out, plain.err) == (full.code, full.out, full.err)
    assert answered == [True] and plain.code == 0
    assert json.loads(plain.out)["queue"]["queued"] == 0


def test_a_queue_file_that_cannot_be_read_is_reported_the_same_either_way(
    any_db: Database, configs: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    """The plain read leaves it to the full path, which reports it as the queue's state
    beside the database's figures, and exits 1."""
    (tmp_path / "queue.db").write_bytes(b"this is not a SQLite file" * 100)
    plain_cli, full_cli, answered = both_ways(capsys, configs, monkeypatch)
    code, out = same_output(plain_cli, full_cli, "--json")
    assert (code, answered) == (1, [False])
    document = json.loads(out)
    assert document["queue"] == {"kind": "sqlite", "queued": None, "scheduled": None,
                                 "error": "file is not a database"}  # fmt: skip
    assert document["executions"]["pending_due"] == 0
    code, out = same_output(plain_cli, full_cli)
    assert code == 1 and out.startswith("queue       sqlite: DOWN (file is not a database)\n")


def test_the_plain_reads_default_heartbeat_interval_is_the_settings() -> None:
    default = QueueSettings.model_fields["heartbeat_interval"].default
    assert default == queue_report.DEFAULT_HEARTBEAT_INTERVAL


def test_a_configured_heartbeat_interval_goes_the_full_way(tmp_path: Path) -> None:
    config = tmp_path / "beat.toml"
    config.write_text("[queue]\nheartbeat_interval = 5.0\n", "utf-8")
    assert plain_target(config, environ={}) is None
