"""``wfconsole schedules`` and ``wfconsole schedules backfill`` as typed in a shell.

An hourly schedule saved four hours ago that never ran: the board shows its gaps, backfill
``--since 3h --dry-run`` creates nothing, ``--since 3h`` creates one run per missed fire
time, and a second backfill creates none. Bad input is one line on stderr naming the flag.

The schedule fires half an hour away from the clock's minute, so no fire time falls near
an edge of the ranges the test counts (a fire time under 5 s old is not a gap yet: a run
just after the hour counted 3 gaps instead of 4).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.models import Workflow, WorkflowExecution, table_of, utcnow
from engine.services.workflows import save_document
from tests.cli.runner import Cli, runner, write_config
from tests.execution_support import workflow_document


def hourly_half_an_hour_away() -> str:
    """Hourly, at the minute half an hour from now: fire times stay far from every edge."""
    return f"{(utcnow().minute + 30) % 60} * * * *"


@pytest.fixture
def cli(sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    document = workflow_document("hourly", ["http://127.0.0.1:9/"])
    document["triggers"] = [{"type": "schedule", "cron": hourly_half_an_hour_away()}]
    save_document(sqlite_db, document, actor="tester")
    with sqlite_db.engine.begin() as conn:
        conn.execute(sa.update(table_of(Workflow)).values(updated_at=utcnow() - timedelta(hours=4)))
    run = runner(capsys, write_config(tmp_path / "wfconsole.toml", str(sqlite_db.url)))
    return lambda *args: run(*args, "--user", "tester")  # the first user: SUPER_ADMIN


def runs(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(
            table_of(WorkflowExecution))).scalar_one())  # fmt: skip


def test_board_then_backfill_once(cli: Cli, sqlite_db: Database) -> None:
    board = cli("schedules", "--json")
    assert board.code == 0, board.err
    [row] = json.loads(board.out)
    assert (row["workflow"], row["last_run_at"]) == ("hourly", None)
    assert row["cron"].endswith(" * * * *")
    assert len(row["gaps"]) == 4 and row["fire_times_in_window"] == 4
    table = cli("schedules")
    assert "hourly" in table.out and "4 fire time(s) without a run" in table.out

    preview = cli("schedules", "backfill", "hourly", "--since", "3h", "--dry-run", "--json")
    assert preview.code == 0, preview.err
    planned = json.loads(preview.out)
    assert len(planned["missing"]) == 3 and planned["created"] == [] and runs(sqlite_db) == 0

    done = cli("schedules", "backfill", "hourly", "--since", "3h", "--json")
    assert done.code == 0, done.err
    assert len(json.loads(done.out)["created"]) == 3 and runs(sqlite_db) == 3

    again = cli("schedules", "backfill", "hourly", "--since", "3h")
    assert again.code == 0 and "nothing to backfill" in again.out and runs(sqlite_db) == 3
    [after] = json.loads(cli("schedules", "--json").out)
    assert len(after["gaps"]) == 1  # the oldest fire time, before the 3 hours backfilled


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("schedules", "backfill", "hourly", "--since", "yesterday"), "--since"),
        (("schedules", "backfill", "hourly"), "--since"),
        (("schedules", "--window", "0h"), "--window"),
        (("schedules", "backfill", "nope", "--since", "1h"), "nope"),
        (("schedules", "backfill", "hourly", "--since", "1h", "--until", "3h"), "after until"),
    ],
)
def test_bad_input_is_one_line_naming_it(
    cli: Cli, sqlite_db: Database, args: tuple[str, ...], named: str
) -> None:
    outcome = cli(*args)
    assert outcome.code != 0
    assert len(outcome.err_lines) == 1 and named in outcome.err, outcome.err
    assert "Traceback" not in outcome.err and runs(sqlite_db) == 0
