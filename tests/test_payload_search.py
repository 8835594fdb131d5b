"""Payload search (``--where``), on SQLite and PostgreSQL: the same answers from both.

Executions with assorted trigger data are found by the condition language in text form;
types are strict (the number 12 is not the string "12"); a hostile value is only ever a
bound parameter; a malformed expression is an error naming the column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.db import Database
from engine.execution import claims as store
from engine.services.executions import list_executions
from engine.services.payload_search import WhereError, parse_where
from tests.execution_support import Engine, make_engine

ORDERS: dict[str, dict[str, Any]] = {
    "o1": {"order": "o1", "amount": 900, "tags": ["vip"], "customer": {"tier": "gold"}},
    "o2": {"order": "o2", "amount": 100, "tags": []},
    "o3": {"order": "o3", "amount": 500, "note": None},
    "n12": {"order": 12, "amount": 7.5},
}


@pytest.fixture
def engine(any_db: Database, tmp_path: Path) -> Engine:
    engine = make_engine(any_db, tmp_path)
    engine.workflow("orders", ["http://127.0.0.1:9/"])
    return engine


@pytest.fixture
def ids(engine: Engine) -> dict[str, str]:
    found = {label: engine.trigger("orders", data) for label, data in ORDERS.items()}
    with engine.db.engine.begin() as conn:
        conn.execute(sa.update(store.EXECUTIONS).where(store.E.id == found["o2"])
                     .values(status="FAILED", error="HTTP 503: boom at the gateway",
                             result={"steps": 1, "code": 503}))  # fmt: skip
    return found


def found(engine: Engine, ids: dict[str, str], expression: str) -> list[str]:
    label_of = {execution_id: label for label, execution_id in ids.items()}
    rows = list_executions(engine.db, where=parse_where(expression), limit=100)
    return sorted(label_of[row.id] for row in rows)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("trigger.order = o2", ["o2"]),
        ('trigger.order = "o2"', ["o2"]),
        ("trigger.order = 12", ["n12"]),
        ('trigger.order = "12"', []),
        ("trigger.amount > 400", ["o1", "o3"]),
        ("trigger.amount >= 500 and trigger.order != o1", ["o3"]),
        ("trigger.amount < 100", ["n12"]),
        ("trigger.order = o1 or trigger.order = o2", ["o1", "o2"]),
        ("trigger.order = o1 or trigger.amount <= 100 and trigger.tags exists", ["o1", "o2"]),
        ("trigger.tags contains vip", ["o1"]),
        ("trigger.order contains O", ["o1", "o2", "o3"]),
        ("trigger.customer.tier = gold", ["o1"]),
        ("trigger.note exists", ["o3"]),
        ('trigger.order in ["o1", "o3", 12]', ["n12", "o1", "o3"]),
        ("error contains BOOM", ["o2"]),
        ("error exists", ["o2"]),
        ("result.code = 503", ["o2"]),
        ('trigger.order = "\'; DROP TABLE workflow_execution; --"', []),
        ("trigger.order = o1%", []),
    ],
)
def test_the_same_answer_on_both_backends(
    engine: Engine, ids: dict[str, str], expression: str, expected: list[str]
) -> None:
    assert found(engine, ids, expression) == expected


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("", "empty"),
        ("trigger.order", "operator"),
        ("order = o1", "trigger."),
        ("trigger = o1", "name a field"),
        ("trigger.order = ", "missing"),
        ("trigger.order in o1", "JSON list"),
        ("trigger.amount > [1]", "number or a string"),
        ("trigger.order = o1 nor trigger.order = o2", "and / or"),
        ("error > 3", "error takes"),
        ("error.code = 1", "no fields"),
    ],
)
def test_a_malformed_expression_says_what_is_wrong(expression: str, says: str) -> None:
    with pytest.raises(WhereError, match=says):
        parse_where(expression)


def test_the_cli_and_the_api_take_where(
    engine: Engine, ids: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.models import Role
    from tests.api_client import running_api
    from tests.cli.runner import runner, write_config

    cli = runner(capsys, write_config(tmp_path / "wfconsole.toml", str(engine.db.url)))
    listed = cli("executions", "list", "--where", "trigger.amount > 400", "--json")
    bad = cli("executions", "list", "--where", "trigger.amount >")
    assert listed.code == 0, listed.err
    assert sorted(row["id"] for row in json.loads(listed.out)) == sorted([ids["o1"], ids["o3"]])
    assert bad.code != 0 and len(bad.err_lines) == 1 and "--where" in bad.err
    for api in running_api(engine.db, tmp_path):
        answer = api.call("GET", "/executions?where=trigger.order%20%3D%20o2", Role.VIEWER)
        assert answer.status_code == 200, answer.text
        assert [row["id"] for row in answer.json()["executions"]] == [ids["o2"]]
        refused = api.call("GET", "/executions?where=trigger.order", Role.VIEWER)
        assert refused.status_code == 400 and refused.json()["field"] == "where"
