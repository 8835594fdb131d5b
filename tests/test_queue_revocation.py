"""A worker runs our tasks without Huey's revocation round trips.

Nothing in wfconsole revokes a Huey task (a message only says "look at execution X"), so
the look-up before each message and the clean-up after it are skipped for
``run_execution`` / ``run_executions``; any other task keeps Huey's behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.config import Settings
from engine.workers.runtime import Queue


def test_our_tasks_skip_the_revocation_look_up_and_clean_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.model_validate({
        "database": {"url": f"sqlite:///{tmp_path / 'wf.db'}"},
        "queue": {"path": str(tmp_path / "queue.db"), "signing_key": "k" * 32},
    })  # fmt: skip
    queue = Queue(settings)
    huey = queue.huey
    started: list[list[str]] = []
    monkeypatch.setattr(queue, "start", started.append)
    storage_calls: list[str] = []
    for name in ("peek_data", "peek_many", "delete_data", "pop_data"):
        original = getattr(huey.storage, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            storage_calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(huey.storage, name, counted)

    queue.run_executions(["a", "b"])
    queue.run_execution("c")
    while (task := huey.dequeue()) is not None:  # merged into one task: one batch
        huey.execute(task)
    assert started == [["a", "b", "c"]]
    assert storage_calls == []

    # Another task (none can come through the queue: the serializer refuses it) still
    # asks Huey's revocation store, before and after it runs.
    @huey.task()
    def other() -> None:
        return None

    huey.execute(other.s())
    assert "peek_many" in storage_calls
    assert "delete_data" in storage_calls
