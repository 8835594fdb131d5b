"""``executions list`` has no silent cap: ``--limit N`` gives N rows when N exist, ``--all``
every one, ``--jsonl`` a line each, and ``--before`` / ``--after ID`` resume (issue 15).

Before: ``--limit 6000`` returned 1,000 rows without a word."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.demo.seed import seed_demo
from engine.execution.claims import EXECUTIONS
from tests.cli.runner import Cli, runner, write_config

SEEDED = 2_600  # more than two of the service's 1,000-row pages


@pytest.fixture
def seeded(any_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    seed_demo(any_db, executions=SEEDED, actor="root")
    return runner(capsys, write_config(tmp_path / "wfconsole.toml", any_db.url))


def total(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(EXECUTIONS)).scalar_one())


def ids_of(jsonl: str) -> list[str]:
    return [json.loads(line)["id"] for line in jsonl.splitlines()]


def test_limit_gives_that_many_rows_past_one_page(seeded: Cli) -> None:
    listed = json.loads(seeded("executions", "list", "--limit", "2200", "--json").out)
    assert len(listed) == 2200
    assert len({row["id"] for row in listed}) == 2200
    created = [row["created_at"] for row in listed]
    assert created == sorted(created, reverse=True)


def test_all_jsonl_streams_every_execution(any_db: Database, seeded: Cli) -> None:
    outcome = seeded("executions", "list", "--all", "--jsonl")
    assert outcome.code == 0
    ids = ids_of(outcome.out)
    assert len(ids) == len(set(ids)) == total(any_db)


def test_before_resumes_where_a_page_ended_without_overlap(any_db: Database, seeded: Cli) -> None:
    first = ids_of(seeded("executions", "list", "--limit", "1500", "--jsonl").out)
    rest = ids_of(seeded("executions", "list", "--all", "--before", first[-1], "--jsonl").out)
    assert not set(first) & set(rest)
    assert len(first) + len(rest) == total(any_db)


def test_after_lists_what_came_since_oldest_first(seeded: Cli) -> None:
    newest_first = ids_of(seeded("executions", "list", "--limit", "30", "--jsonl").out)
    since = seeded("executions", "list", "--all", "--after", newest_first[20], "--jsonl")
    assert ids_of(since.out) == list(reversed(newest_first[:20]))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--all", "--limit", "5"), "--all and --limit"),
        (("--before", "a", "--after", "b"), "--before and --after"),
        (("--json", "--jsonl"), "--json and --jsonl"),
        (("--before", "no-such-execution"), "no execution with id 'no-such-execution'"),
    ],
)
def test_contradictory_or_unknown_arguments_are_one_line_errors(
    seeded: Cli, args: tuple[str, ...], named: str
) -> None:
    outcome = seeded("executions", "list", *args)
    assert outcome.code != 0
    assert len(outcome.err_lines) == 1 and named in outcome.err, outcome.err
    assert outcome.out == ""
