"""``wfconsole workflow pause | resume | limit``: what they print and what they refuse.

Bad input is one line on stderr naming the field, exit status 1 (2 for argparse's own),
no traceback and no change in the database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.execution.claims import WORKFLOWS, W
from engine.models import AuditLog, Role, table_of
from engine.services.workflows import save_document
from tests.api_client import PEOPLE, ROOT, set_role
from tests.cli.runner import Cli, runner

FLOW = {"name": "flow", "triggers": [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "check"}]}  # fmt: skip


@pytest.fixture
def cli(sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    for role, person in [(Role.SUPER_ADMIN, ROOT), *PEOPLE.items()]:
        set_role(sqlite_db, person, role)
    save_document(sqlite_db, FLOW, actor=ROOT)
    config = tmp_path / "wf.toml"
    config.write_text(
        f"[database]\nurl = {json.dumps(sqlite_db.url)}\n"
        f"[queue]\npath = {json.dumps(str(tmp_path / 'queue.db'))}\n",
        encoding="utf-8",
    )
    return runner(capsys, config)


def _flow_state(db: Database) -> tuple[object, ...]:
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(W.paused_at, W.paused_until, W.override_concurrent, W.override_rate,
                      W.flow_gated).where(W.name == "flow")
        ).one()  # fmt: skip
        audits = conn.execute(sa.select(sa.func.count()).select_from(table_of(AuditLog)))
        return (*row, audits.scalar_one())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["workflow", "pause", "nope"], "no workflow named 'nope'"),
        (["workflow", "resume", "nope"], "no workflow named 'nope'"),
        (["workflow", "limit", "nope", "--concurrency", "2"], "no workflow named 'nope'"),
        (["workflow", "pause", "flow", "--for", "5x"], "for: invalid duration '5x'"),
        (["workflow", "pause", "flow", "--for", "0s"], "for: invalid duration '0s'"),
        (["workflow", "pause", "flow", "--for", "999999999d"], "for: invalid duration"),
        (["workflow", "pause", "flow", "--for", "1h\x00"], "for: invalid duration"),
        (["workflow", "pause", "flow", "--catch-up", "most"], "catch-up: 'most' is not"),
        (["workflow", "resume", "flow", "--catch-up", "newest"], "catch-up: 'newest' is not"),
        (["workflow", "resume", "flow", "--catch-up", "spread:"], "catch-up: invalid duration"),
        (["workflow", "resume", "flow", "--catch-up", "spread:-1m"], "catch-up: invalid"),
        (["workflow", "limit", "flow", "--rate", "5/h"], "rate: invalid rate '5/h'"),
        (["workflow", "limit", "flow", "--rate", "0/s"], "rate: invalid rate '0/s'"),
        (["workflow", "limit", "flow", "--rate", "ten/s"], "rate: invalid rate"),
        (["workflow", "limit", "flow", "--concurrency", "0"], "concurrency: must be between"),
        (["workflow", "limit", "flow", "--concurrency", "2.5"], "concurrency: '2.5' is not"),
        (["workflow", "limit", "flow", "--concurrency", "9" * 30], "concurrency: must be"),
        (["workflow", "limit", "flow", "--concurrency", "2", "--for", "1y"], "for: invalid"),
        (["workflow", "limit", "flow"], "limit: give --concurrency N, --rate N/s|N/m"),
        (["workflow", "limit", "flow", "--clear", "--rate", "1/s"], "--clear: give it alone"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(
    cli: Cli, sqlite_db: Database, args: list[str], message: str
) -> None:
    before = _flow_state(sqlite_db)
    answer = cli(*args, "--user", ROOT)
    assert (answer.code, answer.out) == (1, ""), answer.err
    [line] = answer.err_lines
    assert line.startswith("wfconsole: error: ") and message in line, line
    assert _flow_state(sqlite_db) == before


@pytest.mark.parametrize(
    ("args", "needs"),
    [
        (["workflow", "pause", "flow"], "needs OPERATOR (you are VIEWER)"),
        (["workflow", "resume", "flow"], "needs OPERATOR (you are VIEWER)"),
        (["workflow", "limit", "flow", "--rate", "1/s"], "needs ADMIN (you are VIEWER)"),
        (["workflow", "limit", "flow", "--clear"], "needs ADMIN (you are VIEWER)"),
    ],
)
def test_a_viewer_is_refused(cli: Cli, sqlite_db: Database, args: list[str], needs: str) -> None:
    before = _flow_state(sqlite_db)
    answer = cli(*args, "--user", PEOPLE[Role.VIEWER])
    assert answer.code == 1 and needs in answer.err and "Traceback" not in answer.err
    assert _flow_state(sqlite_db) == before


def test_pause_holds_manual_runs_and_resume_skip_cancels_them(
    cli: Cli, sqlite_db: Database
) -> None:
    paused = cli("workflow", "pause", "flow", "--user", ROOT)
    assert (paused.code, paused.out) == (0, "flow: paused\n"), paused.err
    again = cli("workflow", "pause", "flow", "--for", "10m", "--json", "--user", ROOT)
    document = json.loads(again.out)
    assert (document["changed"], document["catch_up"]) == (False, "all")
    assert document["paused_until"] is not None
    assert cli("run", "flow", "--user", ROOT).code == 0
    assert cli("run", "flow", "--user", ROOT).code == 0
    listed = json.loads(cli("executions", "list", "--json", "--user", ROOT).out)
    assert [(row["status"], row["waiting"]) for row in listed] == [("PENDING", "paused")] * 2
    listing = json.loads(cli("workflow", "list", "--json", "--user", ROOT).out)
    assert (listing[0]["paused"], listing[0]["paused_until"] is not None) == (True, True)

    resumed = cli("workflow", "resume", "flow", "--catch-up", "skip", "--user", ROOT)
    assert resumed.out == "flow: resumed (skip): 2 held, 0 started, 2 cancelled\n"
    listed = json.loads(cli("executions", "list", "--json", "--user", ROOT).out)
    assert [(r["status"], r["error"], r["waiting"]) for r in listed] == [
        ("CANCELLED", "skipped on resume", None)
    ] * 2
    assert cli("workflow", "resume", "flow", "--user", ROOT).out == "flow: not paused\n"


def test_limit_overrides_and_clear_restores_the_definition(cli: Cli, sqlite_db: Database) -> None:
    save_document(sqlite_db, {**FLOW, "max_concurrent": 5, "rate_limit": "10/m"}, actor=ROOT)
    shown = cli("workflow", "limit", "flow", "--concurrency", "2", "--for", "1h", "--json",
                "--user", PEOPLE[Role.ADMIN])  # fmt: skip
    state = json.loads(shown.out)
    assert (state["concurrency"], state["rate"]) == (2, "10/m")  # the rate stays the definition's
    assert state["definition"] == {"max_concurrent": 5, "rate_limit": "10/m"}
    assert state["override"]["by"] == PEOPLE[Role.ADMIN] and state["override"]["until"]
    listing = json.loads(cli("workflow", "list", "--json", "--user", ROOT).out)
    assert (listing[0]["max_concurrent"], listing[0]["rate_limit"]) == (2, "10/m")
    cleared = cli("workflow", "limit", "flow", "--clear", "--user", PEOPLE[Role.ADMIN])
    assert cleared.out == "flow: concurrency 5, rate 10/m (override cleared)\n"
    with sqlite_db.engine.connect() as conn:
        gated = conn.execute(sa.select(WORKFLOWS.c.flow_gated)).scalar_one()
    assert gated  # the definition's limits still gate it
    save_document(sqlite_db, FLOW, actor=ROOT)  # the limits leave the definition
    with sqlite_db.engine.connect() as conn:
        gated = conn.execute(sa.select(WORKFLOWS.c.flow_gated)).scalar_one()
    assert not gated
