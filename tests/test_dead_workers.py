"""The sweeper takes a run back before its lease ends only when its worker is dead for sure.

Dead for sure: the worker's heartbeat is silent for three intervals and, on this host, its
pid no longer exists; on another host (no pid to ask) silent for twelve intervals and at
least a minute. A run whose worker has no heartbeat row waits for its lease.
"""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.execution import claims as store
from engine.models import WorkerHeartbeat, table_of, utcnow
from engine.queue.heartbeat import dead_workers, new_worker_id, pid_space, process_exists
from engine.queue.sweeper import WORKER_LOST, sweep
from tests.execution_support import Engine, execution_row, make_due, make_engine

INTERVAL = 1.0
HOST = socket.gethostname()
LOGS = store.LOGS.c


def gone_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def beat_as(db: Database, worker_id: str, *, host: str, pid: int, silent_for: float) -> None:
    """A heartbeat row as another process wrote it, last refreshed ``silent_for`` s ago."""
    seen = utcnow() - timedelta(seconds=silent_for)
    with db.engine.begin() as conn:
        conn.execute(
            sa.insert(table_of(WorkerHeartbeat)).values(
                worker_id=worker_id, hostname=host, pid=pid, kind="consumer",
                started_at=seen - timedelta(hours=1), last_seen_at=seen,
            )
        )  # fmt: skip


def claimed_by(engine: Engine, worker_id: str) -> str:
    """A run claimed by ``worker_id`` with a lease that ends in an hour."""
    execution_id = engine.trigger("slow")
    now = utcnow()
    with engine.db.engine.begin() as conn:
        claimed = store.claim(conn, execution_id, now=now, worker_id=worker_id, max_running=100,
                              lease_until=now + timedelta(hours=1))  # fmt: skip
    assert isinstance(claimed, store.Claimed)
    return execution_id


@pytest.fixture
def engine(any_db: Database, tmp_path: Path) -> Engine:
    engine = make_engine(any_db, tmp_path)
    engine.workflow("slow", ["http://127.0.0.1:9/"])
    return engine


def test_process_exists_tells_a_live_pid_from_a_reaped_one() -> None:
    assert process_exists(os.getpid())
    assert not process_exists(gone_pid())


def test_a_run_of_a_silent_worker_whose_pid_is_gone_is_taken_back_before_its_lease(
    engine: Engine,
) -> None:
    dead = f"{HOST}:{gone_pid()}:0a0b0c0d"
    beat_as(engine.db, dead, host=HOST, pid=int(dead.split(":")[1]), silent_for=4 * INTERVAL)
    execution_id = claimed_by(engine, dead)

    assert sweep(engine.db).retried == 0  # without heartbeats, only expired leases count
    report = sweep(engine.db, heartbeat_interval=INTERVAL)

    assert (report.retried, report.enqueue) == (1, [execution_id])
    row = execution_row(engine.db, execution_id)
    assert (row.status, row.retry_count, row.worker_id, row.error) == (
        "PENDING", 1, None, WORKER_LOST)  # fmt: skip
    with engine.db.engine.connect() as conn:
        logged = conn.execute(sa.select(LOGS.message).where(LOGS.execution_id == execution_id))
        assert f"{WORKER_LOST} (its heartbeat stopped); handed back for retry" in logged.scalars()


@pytest.mark.parametrize(
    ("case", "silent_for", "pid_alive"),
    [
        ("silent but its process runs (slow or frozen)", 3600.0, True),
        ("process gone but beat recently", 2 * INTERVAL, False),
    ],
)
def test_a_run_on_this_host_stays_unless_silent_and_gone(
    engine: Engine, case: str, silent_for: float, pid_alive: bool
) -> None:
    pid = os.getpid() if pid_alive else gone_pid()
    worker = f"{HOST}:{pid}:0a0b0c0d"
    beat_as(engine.db, worker, host=HOST, pid=pid, silent_for=silent_for)
    execution_id = claimed_by(engine, worker)

    assert sweep(engine.db, heartbeat_interval=INTERVAL).retried == 0, case
    row = execution_row(engine.db, execution_id)
    assert (row.status, row.worker_id) == ("RUNNING", worker)


def test_a_worker_on_another_host_is_dead_only_after_a_minute_of_silence(engine: Engine) -> None:
    # Its pid means nothing here: use one that exists on this host, so only silence counts.
    quiet, gone = "elsewhere:1:0a0b0c0d", "elsewhere:2:0a0b0c0d"
    beat_as(engine.db, quiet, host="elsewhere", pid=os.getpid(), silent_for=30)
    beat_as(engine.db, gone, host="elsewhere", pid=os.getpid(), silent_for=61)
    kept, taken = claimed_by(engine, quiet), claimed_by(engine, gone)

    assert dead_workers(engine.db, interval=INTERVAL) == [gone]
    assert sweep(engine.db, heartbeat_interval=INTERVAL).enqueue == [taken]
    assert execution_row(engine.db, kept).status == "RUNNING"


def test_a_run_whose_worker_has_no_heartbeat_row_waits_for_its_lease(engine: Engine) -> None:
    # Not beaten yet, or its row was removed at exit: nothing proves the process is gone.
    execution_id = claimed_by(engine, f"{HOST}:{gone_pid()}:0a0b0c0d")

    assert sweep(engine.db, heartbeat_interval=INTERVAL).retried == 0
    assert execution_row(engine.db, execution_id).status == "RUNNING"


def test_runs_due_while_a_dead_worker_lived_are_enqueued_again_at_once_not_after_30_s(
    engine: Engine,
) -> None:
    # The worker may have popped their messages and died before claiming: waiting for the
    # 30-second stale-PENDING rule would hold them up. Rows due after its death are not
    # its, and a backlog in the queue may still hold their messages.
    pid = gone_pid()
    dead = f"{HOST}:{pid}:0a0b0c0d"
    beat_as(engine.db, dead, host=HOST, pid=pid, silent_for=4 * INTERVAL)
    popped, later = engine.trigger("slow"), engine.trigger("slow")
    make_due(engine.db, popped, ago=6 * INTERVAL)  # due while the worker still beat
    make_due(engine.db, later, ago=1 * INTERVAL)  # due after its last beat + one interval

    assert sweep(engine.db, heartbeat_interval=INTERVAL, queue_depth=1).enqueue == []
    first = sweep(engine.db, heartbeat_interval=INTERVAL)
    second = sweep(engine.db, heartbeat_interval=INTERVAL)

    assert (first.enqueue, second.enqueue) == ([popped], [])
    assert execution_row(engine.db, popped).status == "PENDING"


def test_a_death_long_ago_leaves_pending_runs_to_the_30_second_rule(engine: Engine) -> None:
    pid = gone_pid()
    dead = f"{HOST}:{pid}:0a0b0c0d"
    beat_as(engine.db, dead, host=HOST, pid=pid, silent_for=200)
    waiting = engine.trigger("slow")
    make_due(engine.db, waiting, ago=20)

    assert sweep(engine.db, heartbeat_interval=INTERVAL).enqueue == []
    make_due(engine.db, waiting, ago=31)
    assert sweep(engine.db, heartbeat_interval=INTERVAL).enqueue == [waiting]


def test_in_our_pid_namespace_a_gone_pid_is_dead_however_recently_it_beat(
    engine: Engine,
) -> None:
    # Same kernel boot and pid namespace (the id says so): the pid's absence is certain,
    # so a consumer restarted right after a crash takes the runs back at once.
    space = pid_space()
    assert space != "x"  # Linux with /proc: known
    pid = gone_pid()
    ours_gone = f"{HOST}:{pid}:{space}-0a0b0c0d"
    ours_frozen = f"{HOST}:{os.getpid()}:{space}-0a0b0c0e"
    other_space = f"{HOST}:{gone_pid()}:ffffffff-0a0b0c0f"  # a container sharing the name
    beat_as(engine.db, ours_gone, host=HOST, pid=pid, silent_for=0.1)
    beat_as(engine.db, ours_frozen, host=HOST, pid=os.getpid(), silent_for=3600)
    beat_as(engine.db, other_space, host=HOST, pid=int(other_space.split(":")[1]),
            silent_for=0.1)  # fmt: skip
    taken, frozen, elsewhere = (claimed_by(engine, w) for w in (ours_gone, ours_frozen,
                                                                 other_space))  # fmt: skip

    dead = dead_workers(engine.db, interval=INTERVAL)
    report = sweep(engine.db, heartbeat_interval=INTERVAL)

    assert list(dead) == [ours_gone] and dead.certain == {ours_gone}
    assert report.enqueue == [taken]
    assert execution_row(engine.db, frozen).status == "RUNNING"
    assert execution_row(engine.db, elsewhere).status == "RUNNING"
    assert new_worker_id().split(":")[2].startswith(space + "-")
