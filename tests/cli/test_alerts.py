"""``wfconsole alerts check | list`` as cron and an operator run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wfconsole.cli import main


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A local deployment whose only rule always fires (no worker alive)."""
    path = tmp_path / "wf.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "wf.db"}"\n'
        f'[queue]\npath = "{tmp_path / "queue.db"}"\n'
        '[alerts]\nrules = ["no_worker", "queue_depth"]\nno_worker = "always"\n',
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str]:
    code = main([*args, "--config", str(config)])
    return code, capsys.readouterr().out


def test_check_prints_what_opened_then_nothing_while_it_stays_open(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    assert run(capsys, config, "alerts", "check") == (
        0, "opened    #1 [critical] no_worker workers: no worker process alive; none ever seen\n"
    )  # fmt: skip
    assert run(capsys, config, "alerts", "check") == (0, "no change\n")


def test_list_json_shows_the_history(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    run(capsys, config, "alerts", "check")
    code, out = run(capsys, config, "alerts", "list", "--open", "--json")
    (alert,) = json.loads(out)
    assert code == 0
    assert {k: alert[k] for k in ("id", "rule", "subject", "severity", "open")} == {
        "id": 1, "rule": "no_worker", "subject": "workers", "severity": "critical", "open": True,
    }  # fmt: skip


def test_list_prints_a_table(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    run(capsys, config, "alerts", "check")
    code, out = run(capsys, config, "alerts", "list")
    header, row = out.splitlines()
    assert code == 0
    assert header.split() == [
        "id", "opened", "state", "severity", "rule", "subject", "message", "sent"
    ]  # fmt: skip
    assert row.split()[:1] + row.split()[2:6] == ["1", "open", "critical", "no_worker", "workers"]


def test_an_empty_history_says_so(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    assert run(capsys, config, "alerts", "list", "--open")[1].splitlines()[-1] == "(none)"
