"""``wfconsole destinations``, ``destinations hold`` and ``release`` as typed in a shell.

The board as a table and as JSON (with figures a worker process flushed), a hold with
``--for`` and its release, and bad input: one line on stderr naming what is wrong, a
non-zero exit, no traceback, nothing changed. A VIEWER is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.db import Database
from engine.outbound.call_stats import CallStats, write_figures
from engine.services.destinations import destination_board
from engine.services.users import add_user
from engine.services.workflows import save_document
from tests.cli.runner import Cli, runner, write_config
from tests.execution_support import workflow_document


@pytest.fixture
def cli(sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    save_document(sqlite_db, workflow_document("flow", ["http://127.0.0.1:9/"]), actor="tester")
    return runner(capsys, write_config(tmp_path / "wfconsole.toml", str(sqlite_db.url)))


def _held(db: Database) -> list[str]:
    return [row.destination for row in destination_board(db, "5m") if row.held]


def test_the_board_shows_a_workers_figures(cli: Cli, sqlite_db: Database) -> None:
    stats = CallStats()
    for latency in (3.0, 40.0, 40.0, 900.0):
        stats.record("hooks.example.com", latency, error=latency > 500)
    stats.record("hooks.example.com", 12.0, error=True, rate_limited=True, retry_after=30.0)
    write_figures(sqlite_db, "host:1:w", stats.take_dirty())

    table = cli("destinations", "--user", "tester")
    document = cli("destinations", "--json", "--window", "1h", "--user", "tester")

    assert table.code == 0, table.err
    header, line = table.out.splitlines()
    assert header.split()[:3] == ["DESTINATION", "CALLS", "ERRORS"]
    assert line.split()[:3] == ["hooks.example.com", "5", "40%"]
    assert document.code == 0, document.err
    [row] = json.loads(document.out)
    assert (row["destination"], row["calls"], row["errors"], row["rate_limited"]) == (
        "hooks.example.com", 5, 2, 1,
    )  # fmt: skip
    assert row["last_retry_after"] == 30.0 and row["circuit"] == "closed"
    assert 20.0 <= row["p50_ms"] <= 50.0 and 500.0 <= row["p99_ms"] <= 1000.0


def test_hold_for_a_duration_then_release(cli: Cli, sqlite_db: Database) -> None:
    held = cli("destinations", "hold", "Hooks.Example.com:8443", "--for", "10m", "--user",
               "tester")  # fmt: skip
    board = cli("destinations", "--json", "--user", "tester")
    released = cli("destinations", "release", "hooks.example.com:8443", "--user", "tester")

    assert held.code == 0, held.err
    assert held.out.startswith("held hooks.example.com:8443 until 20")
    [row] = json.loads(board.out)
    assert row["held"] and row["held_by"] == "tester" and row["held_until"]
    assert released.code == 0, released.err
    assert released.out.strip() == "hooks.example.com:8443 released 0 waiting run(s) sent"
    assert _held(sqlite_db) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hold", "https://hooks.example.com/x"], "invalid destination"),
        (["hold", "hooks.example.com:0"], "invalid destination"),
        (["hold", "hooks.example.com:99999"], "invalid destination"),
        (["hold", "hooks example.com"], "invalid destination"),
        (["hold", "user@hooks.example.com"], "invalid destination"),
        (["hold", "[::1"], "invalid destination"),
        (["hold", "hooks.example.com\x1b[2J"], "invalid destination"),
        (["hold", "a" * 300], "invalid destination"),
        (["hold", ""], "invalid destination"),
        (["release", "x-.example.com"], "invalid destination"),
        (["release", "-x.example.com"], "HOST[:PORT]"),  # an option to argparse
        (["hold", "hooks.example.com", "--for", "3x"], "argument --for: invalid duration"),
        (["hold", "hooks.example.com", "--for", "0s"], "argument --for: invalid duration"),
        (["hold", "hooks.example.com", "--for", "-1h"], "argument --for"),
        (["--window", "2h"], "argument --window: invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    cli: Cli, sqlite_db: Database, args: list[str], message: str
) -> None:
    outcome = cli("destinations", *args, "--user", "tester")

    assert outcome.code != 0 and outcome.out == ""
    [line] = outcome.err_lines
    assert line.startswith("wfconsole") and message in line, line
    assert "Traceback" not in outcome.err
    assert _held(sqlite_db) == []


def test_a_viewer_may_read_the_board_but_not_hold(cli: Cli, sqlite_db: Database) -> None:
    add_user(sqlite_db, "watcher", "VIEWER", actor="tester")

    board = cli("destinations", "--user", "watcher")
    refused = cli("destinations", "hold", "hooks.example.com", "--user", "watcher")

    assert board.code == 0, board.err
    assert refused.code == 1 and refused.out == ""
    [line] = refused.err_lines
    assert "needs OPERATOR (you are VIEWER)" in line
    assert _held(sqlite_db) == []


def test_the_board_loads_nothing_a_read_does_not_use(sqlite_db: Database, tmp_path: Path) -> None:
    """As the other read commands (tests/cli/test_read_startup.py): no ORM, no audit
    log, no worker runtime, in a fresh interpreter (SQLAlchemy and pydantic it still
    loads: it is not among the plain reads)."""
    import subprocess
    import sys

    from tests.cli.test_read_startup import FULL, HEAVY, PROBE

    config = tmp_path / "board.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_db.url}"\n[queue]\npath = "{tmp_path / "queue.db"}"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=json.dumps(HEAVY)), "destinations",
         "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    [line] = [x for x in done.stderr.splitlines() if x.startswith("LOADED ")] or [done.stderr]
    code, loaded = json.loads(line.removeprefix("LOADED "))
    assert (code, sorted(loaded)) == (0, sorted(FULL))  # the board has no plain read
