"""A worker merges the messages waiting behind the one it popped, never past a batch.

Messages carry up to ``queue.batch_size`` ids; a worker thread may hold at most that many
executions. Merging pops whole messages, so the ids past the batch go back to the queue
as one message: every id is handed out exactly once and no task names more than a batch.
Real SqliteHuey and real Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.consumers import Deployment, deployment


@pytest.fixture(params=["sqlite", "postgres"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(request.param, tmp_path) as deployed:
        yield deployed


def ids_of(task: object) -> list[str]:
    argument = task.args[0]  # type: ignore[attr-defined]
    return [argument] if isinstance(argument, str) else list(argument)


def test_merged_tasks_name_at_most_a_batch_and_every_id_once(deployed: Deployment) -> None:
    queue, huey = deployed.queue, deployed.queue.huey
    size = deployed.settings.queue.batch_size
    assert size >= 4
    ids = [f"execution-{n}" for n in range(size * 5 + size // 2)]
    # A short message first: the worker that pops it has room for more messages than
    # the ids they carry.
    queue.dispatch_many(ids[: size // 2])
    queue.dispatch_many(ids[size // 2 :])

    handed_out: list[str] = []
    tasks = 0
    while (task := huey.dequeue()) is not None:
        names = ids_of(task)
        assert len(names) <= size, f"a task named {len(names)} ids (batch {size})"
        handed_out += names
        tasks += 1
        assert tasks <= len(ids)

    assert sorted(handed_out) == sorted(ids)
    assert tasks < 1 + len(ids) // size + 2  # merged: not one task per message, nor per id
