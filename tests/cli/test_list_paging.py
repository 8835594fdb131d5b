"""``alerts list`` and ``workflow list`` page as ``executions list`` does (issue 15):
``--limit N`` gives N rows when N exist, past the service's page of 500; ``--all`` every
row; ``--jsonl`` a line each; a cursor resumes without gaps or repeats; a bad value is
one line on stderr naming the flag."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.alerts.models import AlertEvent
from engine.db import Database
from engine.models import Role, Workflow, new_id, table_of
from engine.services.tokens import create_token
from engine.services.workflows import save_document
from tests.api_client import ROOT
from tests.api_client import set_role as give_role
from tests.cli.runner import Cli, runner, write_config
from tests.execution_support import workflow_document

ALERTS = 1_200
WORKFLOWS = 1_100


@pytest.fixture
def cli(any_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return runner(capsys, write_config(tmp_path / "wfconsole.toml", any_db.url))


@pytest.fixture
def alerts(any_db: Database) -> Database:
    """1,200 incidents, three to an ``opened_at`` (the id breaks ties), every other open."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {"rule": "queue_depth", "subject": f"subject-{i}", "severity": "warning",
         "message": f"alert {i}", "opened_at": start + timedelta(seconds=i // 3),
         "resolved_at": None if i % 2 else start + timedelta(days=1), "notify_count": 0}
        for i in range(ALERTS)
    ]  # fmt: skip
    with any_db.engine.begin() as conn:
        conn.execute(sa.insert(table_of(AlertEvent)), rows)
    return any_db


@pytest.fixture
def workflows(any_db: Database) -> Database:
    """1,100 workflows written straight into the table (no definitions to validate)."""
    now = datetime.now(UTC)
    rows = [
        {"id": new_id(), "name": f"wf-{i:05d}", "enabled": bool(i % 2), "version": 1,
         "triggers": [{"type": "manual"}], "conditions": None, "actions": [], "priority": 5,
         "max_retries": 3, "retry_delay": 60, "timeout": 300, "tags": [],
         "execution_count": 0, "success_count": 0, "failure_count": 0,
         "created_at": now, "updated_at": now}
        for i in range(WORKFLOWS)
    ]  # fmt: skip
    with any_db.engine.begin() as conn:
        conn.execute(sa.insert(table_of(Workflow)), rows)
    return any_db


def lines(jsonl: str, key: str) -> list[object]:
    return [json.loads(line)[key] for line in jsonl.splitlines()]


def newest_first(db: Database, *, open_only: bool = False) -> list[int]:
    table = table_of(AlertEvent)
    query = sa.select(table.c.id).order_by(table.c.opened_at.desc(), table.c.id.desc())
    if open_only:
        query = query.where(table.c.resolved_at.is_(None))
    with db.engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


def test_alerts_limit_gives_that_many_past_a_page(alerts: Database, cli: Cli) -> None:
    outcome = cli("alerts", "list", "--limit", "1100", "--jsonl")
    assert outcome.code == 0
    assert lines(outcome.out, "id") == newest_first(alerts)[:1100]


def test_alerts_without_a_limit_list_the_default_fifty(alerts: Database, cli: Cli) -> None:
    table = cli("alerts", "list").out.splitlines()
    assert len(table) == 1 + 50
    assert [int(row.split()[0]) for row in table[1:]] == newest_first(alerts)[:50]


def test_alerts_all_json_is_every_alert_in_the_indented_array(alerts: Database, cli: Cli) -> None:
    outcome = cli("alerts", "list", "--all", "--json")
    listed = json.loads(outcome.out)
    assert [row["id"] for row in listed] == newest_first(alerts)
    assert outcome.out == json.dumps(listed, indent=2) + "\n"  # the bytes it always printed


def test_alerts_open_all_keeps_the_filter_across_pages(alerts: Database, cli: Cli) -> None:
    outcome = cli("alerts", "list", "--open", "--all", "--jsonl")
    assert lines(outcome.out, "id") == newest_first(alerts, open_only=True)


def test_alerts_before_resumes_without_gaps_or_repeats(alerts: Database, cli: Cli) -> None:
    first = lines(cli("alerts", "list", "--limit", "700", "--jsonl").out, "id")
    rest = lines(cli("alerts", "list", "--all", "--before", str(first[-1]), "--jsonl").out, "id")
    assert first + rest == newest_first(alerts)


def test_alerts_after_lists_what_opened_since_oldest_first(alerts: Database, cli: Cli) -> None:
    order = newest_first(alerts)
    since = cli("alerts", "list", "--all", "--after", str(order[600]), "--jsonl")
    assert lines(since.out, "id") == list(reversed(order[:600]))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--limit", "0"), "--limit"),
        (("--limit", "many"), "--limit"),
        (("--before", "last"), "--before"),
        (("--after", "-3"), "--after"),
        (("--before", "999999"), "no alert with id 999999"),
        (("--all", "--limit", "5"), "--all and --limit"),
        (("--json", "--jsonl"), "--json and --jsonl"),
        (("--before", "1", "--after", "2"), "--before and --after"),
    ],
)
def test_alerts_bad_values_are_one_line_errors(
    alerts: Database, cli: Cli, args: tuple[str, ...], named: str
) -> None:
    outcome = cli("alerts", "list", *args)
    assert outcome.code != 0
    assert len(outcome.err_lines) == 1 and named in outcome.err, outcome.err
    assert "Traceback" not in outcome.err
    assert outcome.out == ""


def test_workflow_list_limit_gives_that_many_past_a_page(workflows: Database, cli: Cli) -> None:
    outcome = cli("workflow", "list", "--limit", "1050", "--jsonl")
    assert lines(outcome.out, "name") == [f"wf-{i:05d}" for i in range(1050)]


def test_workflow_list_shows_every_workflow_by_default(workflows: Database, cli: Cli) -> None:
    outcome = cli("workflow", "list", "--json")
    listed = json.loads(outcome.out)
    assert [row["name"] for row in listed] == [f"wf-{i:05d}" for i in range(WORKFLOWS)]
    assert outcome.out == json.dumps(listed, indent=2) + "\n"  # the bytes it always printed
    assert len(cli("workflow", "list").out.splitlines()) == 1 + WORKFLOWS


def test_workflow_list_after_resumes_without_gaps_or_repeats(workflows: Database, cli: Cli) -> None:
    first = lines(cli("workflow", "list", "--limit", "600", "--jsonl").out, "name")
    rest = lines(cli("workflow", "list", "--after", str(first[-1]), "--jsonl").out, "name")
    assert first + rest == [f"wf-{i:05d}" for i in range(WORKFLOWS)]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--limit", "0"), "--limit"),
        (("--limit", "1.5"), "--limit"),
        (("--all", "--limit", "2"), "--all and --limit"),
        (("--json", "--jsonl"), "--json and --jsonl"),
    ],
)
def test_workflow_list_bad_values_are_one_line_errors(
    workflows: Database, cli: Cli, args: tuple[str, ...], named: str
) -> None:
    outcome = cli("workflow", "list", *args)
    assert outcome.code != 0
    assert len(outcome.err_lines) == 1 and named in outcome.err, outcome.err
    assert "Traceback" not in outcome.err
    assert outcome.out == ""


@pytest.fixture
def people(any_db: Database) -> Database:
    """root (SUPER_ADMIN) with two tokens, two more users, a workflow saved twice."""
    give_role(any_db, ROOT, Role.SUPER_ADMIN)
    for name in ("alice", "bob"):
        give_role(any_db, name, Role.VIEWER)
    for name in ("ci", "backup"):
        create_token(any_db, name=name, actor=ROOT)
    for retries in (1, 2):
        flow = workflow_document("flow", ["http://127.0.0.1:9/"], max_retries=retries)
        save_document(any_db, flow, actor=ROOT)
    return any_db


@pytest.mark.parametrize(
    "command", [("user", "list"), ("token", "list"), ("workflow", "versions", "flow")]
)
def test_jsonl_is_the_json_array_one_object_a_line(
    people: Database, cli: Cli, command: tuple[str, ...]
) -> None:
    as_array = json.loads(cli(*command, "--json", "--user", ROOT).out)
    as_lines = cli(*command, "--jsonl", "--user", ROOT)
    assert as_lines.code == 0
    assert [json.loads(line) for line in as_lines.out.splitlines()] == as_array
    assert len(as_array) >= 2


@pytest.mark.parametrize(
    "command", [("user", "list"), ("token", "list"), ("workflow", "versions", "flow")]
)
def test_json_with_jsonl_is_a_one_line_error(
    people: Database, cli: Cli, command: tuple[str, ...]
) -> None:
    outcome = cli(*command, "--json", "--jsonl", "--user", ROOT)
    assert (outcome.code, outcome.out) == (1, "")
    assert outcome.err_lines == ["wfconsole: error: --json and --jsonl: give one of them"]
