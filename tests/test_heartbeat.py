"""Worker heartbeats: consumer processes and the embedded worker say they are alive."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.db import Database
from engine.models import utcnow
from engine.queue.heartbeat import Heartbeat, forget_stale, write_beat
from engine.services.workers import WorkerStatus, list_workers
from engine.workers.runtime import EmbeddedWorker, Queue
from tests.consumers import deployment, running_consumer, wait_until

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BEAT = 0.2  # seconds between beats in the process tests


def workers_now(db: Database, interval: float = BEAT) -> list[WorkerStatus]:
    return list_workers(db, now=utcnow(), interval=interval)


def test_a_worker_seen_within_three_intervals_is_alive(any_db: Database) -> None:
    write_beat(any_db, "host:1:a", kind="consumer", started_at=NOW, now=NOW)
    write_beat(any_db, "host:2:b", kind="embedded", started_at=NOW, now=NOW - timedelta(seconds=14))
    write_beat(any_db, "host:3:c", kind="consumer", started_at=NOW, now=NOW - timedelta(seconds=16))
    workers = list_workers(any_db, now=NOW, interval=5)
    assert [(w.worker_id, w.kind, w.alive) for w in workers] == [
        ("host:1:a", "consumer", True),
        ("host:2:b", "embedded", True),
        ("host:3:c", "consumer", False),
    ]
    assert workers[0].pid == os.getpid()


def test_a_beat_refreshes_the_row_and_keeps_its_start(any_db: Database) -> None:
    write_beat(any_db, "host:1:a", kind="consumer", started_at=NOW, now=NOW)
    write_beat(any_db, "host:1:a", kind="consumer", started_at=NOW, now=NOW + timedelta(seconds=5))
    (worker,) = list_workers(any_db, now=NOW + timedelta(seconds=5), interval=5)
    assert (worker.started_at, worker.last_seen_at) == (NOW, NOW + timedelta(seconds=5))


def test_rows_of_workers_gone_for_a_day_are_forgotten(any_db: Database) -> None:
    write_beat(any_db, "old", kind="consumer", started_at=NOW, now=NOW - timedelta(days=2))
    write_beat(any_db, "recent", kind="consumer", started_at=NOW, now=NOW - timedelta(hours=1))
    assert forget_stale(any_db, now=NOW) == 1
    assert [w.worker_id for w in list_workers(any_db, now=NOW, interval=5)] == ["recent"]


def test_the_last_worker_thread_to_stop_removes_the_row(sqlite_db: Database) -> None:
    heartbeat = Heartbeat(lambda: sqlite_db, BEAT)
    heartbeat.worker_started()
    heartbeat.worker_started()
    assert wait_until(lambda: len(workers_now(sqlite_db)) == 1, 5)
    heartbeat.worker_stopped()
    assert wait_until(lambda: workers_now(sqlite_db)[0].last_seen_at > utcnow() - timedelta(
        seconds=BEAT / 2), 5)  # fmt: skip
    heartbeat.worker_stopped()
    assert workers_now(sqlite_db) == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_consumer_process_beats_and_says_goodbye_on_sigterm(kind: str, tmp_path: Path) -> None:
    with deployment(kind, tmp_path) as deployed:
        deployed.variant(deployed.config_path, heartbeat_interval=BEAT)
        with running_consumer(deployed, tmp_path / "consumer.log", workers=2) as consumer:
            assert wait_until(lambda: len(workers_now(deployed.db)) == 1, 30), consumer.log_tail()
            (worker,) = workers_now(deployed.db)
            assert (worker.kind, worker.pid, worker.alive) == ("consumer", consumer.pid, True)
            first_seen = worker.last_seen_at
            assert wait_until(lambda: workers_now(deployed.db)[0].last_seen_at > first_seen, 5)
            consumer.stop()
            assert not consumer.alive()
        assert workers_now(deployed.db) == []


@pytest.mark.slow
def test_a_killed_consumer_stays_listed_but_not_alive(tmp_path: Path) -> None:
    with deployment("sqlite", tmp_path) as deployed:
        deployed.variant(deployed.config_path, heartbeat_interval=BEAT)
        with running_consumer(deployed, tmp_path / "consumer.log", workers=1) as consumer:
            assert wait_until(lambda: len(workers_now(deployed.db)) == 1, 30), consumer.log_tail()
            consumer.kill()
        assert wait_until(lambda: not workers_now(deployed.db)[0].alive, 5)
        assert workers_now(deployed.db)[0].pid == consumer.pid


def test_the_embedded_worker_beats_while_it_runs(tmp_path: Path) -> None:
    with deployment("sqlite", tmp_path) as deployed:
        settings = deployed.variant(tmp_path / "beat.toml", heartbeat_interval=BEAT)
        worker = EmbeddedWorker(Queue(settings, db=deployed.db), workers=2)
        worker.start()
        try:
            assert wait_until(lambda: len(workers_now(deployed.db)) == 1, 10)
            (status,) = workers_now(deployed.db)
            assert (status.kind, status.pid, status.alive) == ("embedded", os.getpid(), True)
        finally:
            worker.stop()
        assert workers_now(deployed.db) == []
