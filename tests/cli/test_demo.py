"""``wfconsole demo``: one summary line, a refused count in one line, then the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.db import open_database
from engine.demo.workflows import DEMO_WORKFLOWS
from tests.conftest import settings_for_url
from tests.test_demo import assert_consistent_history
from wfconsole.cli import main


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "wfconsole.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n', encoding="utf-8")
    return config


def test_demo_command_stores_the_executions_and_prints_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    assert main(["demo", "--executions", "50", "--no-open", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 1
    assert out.startswith(f"demo: {len(DEMO_WORKFLOWS)} workflows and 50 executions in ")
    db = open_database(settings_for_url(f"sqlite:///{tmp_path / 'cli.db'}"))
    try:
        assert_consistent_history(db, 50)
    finally:
        db.dispose()


def test_demo_command_refuses_a_negative_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--executions", "-1", "--no-open", "--config", str(_config(tmp_path))])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--executions: must be 0 or more" in err
    assert not (tmp_path / "cli.db").exists()


def test_demo_command_opens_the_console_unless_told_not_to(
    tmp_path: Path, monkeypatch: Any
) -> None:
    opened: list[Any] = []

    def open_console(args: Any) -> int:
        opened.append(args)
        return 0

    monkeypatch.setattr("wfconsole.cli.commands.console.open_console", open_console)
    assert main(["demo", "--executions", "5", "--config", str(_config(tmp_path))]) == 0
    assert len(opened) == 1 and opened[0].command == "demo"
