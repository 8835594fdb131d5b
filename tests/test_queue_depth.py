"""The local queue's counts read with the driver are the ones Huey gives."""

from __future__ import annotations

from pathlib import Path

from huey import SqliteHuey

from engine.queue.depth import local_queue_depth


def test_counts_agree_with_huey(tmp_path: Path) -> None:
    huey = SqliteHuey("wfconsole", filename=str(tmp_path / "queue.db"), results=False)
    other = SqliteHuey("another-queue", filename=str(tmp_path / "queue.db"), results=False)

    @huey.task()
    def noop() -> None:
        return None

    @other.task()
    def elsewhere() -> None:
        return None

    for _ in range(3):
        noop()
    noop.schedule(delay=3600)
    elsewhere()
    huey.add_schedule(huey.dequeue())  # moved to the schedule, as a worker moves a delay
    assert (huey.pending_count(), huey.scheduled_count()) == (3, 1)
    depth = local_queue_depth(tmp_path / "queue.db", "wfconsole")
    assert (depth.pending_count(), depth.scheduled_count()) == (3, 1)
    assert local_queue_depth(tmp_path / "queue.db", "another-queue").queued == 1


def test_a_queue_file_not_created_yet_holds_nothing(tmp_path: Path) -> None:
    depth = local_queue_depth(tmp_path / "missing.db", "wfconsole")
    assert (depth.queued, depth.scheduled) == (0, 0)
    assert not (tmp_path / "missing.db").exists()
