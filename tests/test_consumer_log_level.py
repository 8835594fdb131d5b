"""Huey's per-message INFO lines (issue 14): a consumer raises the ``huey`` logger to
WARNING at start, so those records are never built; the consumer's own start and stop
lines still show at INFO, ``-v`` (DEBUG) shows everything, and our loggers are untouched.
A real ``huey_consumer`` process on SQLite + SqliteHuey, and the level set-up itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.queue.instance import quiet_per_message_lines
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from tests.chaos.harness import all_final
from tests.consumers import deployment, running_consumer, wait_until

NAMES = ("", "huey", "huey.consumer", "wfconsole.queue")


@pytest.fixture
def saved_levels() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in NAMES]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.parametrize("huey_level", [logging.INFO, logging.NOTSET])
def test_at_info_huey_builds_no_per_message_record_and_the_consumer_keeps_info(
    saved_levels: None, huey_level: int
) -> None:
    # NOTSET under a root at INFO is `wfconsole worker`; INFO is `huey_consumer`.
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("huey").setLevel(huey_level)
    logging.getLogger("huey.consumer").setLevel(logging.NOTSET)
    quiet_per_message_lines()
    assert not logging.getLogger("huey").isEnabledFor(logging.INFO)
    assert logging.getLogger("huey").isEnabledFor(logging.WARNING)
    assert logging.getLogger("huey.consumer.Worker-1").isEnabledFor(logging.INFO)
    assert logging.getLogger("wfconsole.queue").isEnabledFor(logging.INFO)


@pytest.mark.parametrize("huey_level", [logging.DEBUG, logging.WARNING])
def test_debug_and_quiet_levels_are_left_as_they_are(saved_levels: None, huey_level: int) -> None:
    logging.getLogger("huey").setLevel(huey_level)
    logging.getLogger("huey.consumer").setLevel(logging.NOTSET)
    quiet_per_message_lines()
    assert logging.getLogger("huey").level == huey_level
    assert logging.getLogger("huey.consumer").level == logging.NOTSET


def test_a_consumer_logs_its_start_and_stop_but_no_line_per_message(tmp_path: Path) -> None:
    with deployment("sqlite", tmp_path) as deployed:
        save_document(deployed.db, {
            "name": "quiet", "enabled": True, "triggers": [{"type": "manual"}],
            "actions": [{"type": "create_task", "title": "t"}],
        }, actor="t")  # fmt: skip
        ids = [run_workflow(deployed.db, deployed.queue, "quiet", actor="t")[0] for _ in range(3)]
        log_path = tmp_path / "consumer.log"
        with running_consumer(deployed, log_path) as consumer:
            assert wait_until(lambda: all_final(deployed.db, ids), 30), consumer.log_tail()
            consumer.stop()
        text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "Huey consumer started" in text
    assert "Shutting down" in text
    assert "Executing" not in text and "executed in" not in text
