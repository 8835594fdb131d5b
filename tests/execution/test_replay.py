"""Replay (fix forward), on SQLite and PostgreSQL, with real runs through a loopback sink.

A two-step run whose second step got a 500: replaying it from step 1 sends step 1 once and
never step 0 again (its stored result is copied and still feeds step 1's template);
``version="latest"`` sends what the current definition says; ``--set`` patches the trigger
data; a dry run creates and sends nothing. Refusals create nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.access.roles import PermissionDenied
from engine.execution import claims as store
from engine.services.executions import ExecutionNotFound
from engine.services.replay import Patch, ReplayRefused, replay_executions
from engine.services.users import add_user
from engine.services.workflows import save_document
from tests.cli.runner import runner, write_config
from tests.execution_support import Engine, execution_row, step_rows, workflow_document
from tests.http_sink import HttpSink, Reply

E = store.E


def actions(sink: HttpSink, second: str = "/b") -> list[dict[str, object]]:
    return [
        {"type": "webhook", "method": "POST", "url": sink.url("/a"),
         "body": {"order": "{{ trigger.order }}"}},
        {"type": "webhook", "method": "POST", "url": sink.url(second),
         "body": {"order": "{{ trigger.order }}", "after": "{{ steps.0.result.status_code }}"}},
    ]  # fmt: skip


def failed_at_step_1(engine: Engine, sink: HttpSink) -> str:
    engine.workflow("orders", [], actions=actions(sink), max_retries=0)
    sink.reply(Reply(), Reply(status=500, body=b"down"))
    original = engine.trigger("orders", {"order": "o1"})
    assert engine.run(original).status == "FAILED"
    assert execution_row(engine.db, original).next_step == 1
    sink.requests.clear()
    return original


def paths(sink: HttpSink) -> list[str]:
    return [request.path for request in sink.requests]


def test_replay_from_the_failed_step_sends_it_once_and_never_step_0(
    engine: Engine, http_sink: HttpSink
) -> None:
    original = failed_at_step_1(engine, http_sink)

    [plan] = replay_executions(engine.db, engine.queue, [original], actor="tester")

    assert plan.from_step == 1 and plan.copied == [(0, "webhook", "SUCCESS")]
    assert plan.new_id is not None
    assert engine.run(plan.new_id).status == "SUCCESS"
    assert paths(http_sink) == ["/b"]  # step 0 was not sent again
    assert json.loads(http_sink.requests[0].body) == {"order": "o1", "after": 200}
    row = execution_row(engine.db, plan.new_id)
    assert (row.replay_of, row.status, row.workflow_version) == (original, "SUCCESS", 1)
    steps = step_rows(engine.db, plan.new_id)
    assert [(s.step_index, s.status) for s in steps] == [(0, "SUCCESS"), (1, "SUCCESS")]
    assert execution_row(engine.db, original).status == "FAILED"  # the original stays


def test_latest_version_and_set_patch_what_is_sent(engine: Engine, http_sink: HttpSink) -> None:
    original = failed_at_step_1(engine, http_sink)
    save_document(engine.db, workflow_document("orders", [], actions=actions(http_sink, "/fixed"),
                                               max_retries=0), actor="tester")  # fmt: skip

    [plan] = replay_executions(
        engine.db, engine.queue, [original], version="latest",
        patches=[Patch.parse("trigger.order=o9")], actor="tester",
    )  # fmt: skip

    assert plan.version == 2 and plan.notes
    assert plan.new_id is not None and engine.run(plan.new_id).status == "SUCCESS"
    assert paths(http_sink) == ["/fixed"]
    assert json.loads(http_sink.requests[0].body) == {"order": "o9", "after": 200}


def test_a_dry_run_renders_the_requests_and_creates_and_sends_nothing(
    engine: Engine, http_sink: HttpSink
) -> None:
    original = failed_at_step_1(engine, http_sink)

    [plan] = replay_executions(engine.db, engine.queue, [original], from_step=0,
                               dry_run=True, actor="tester")  # fmt: skip

    assert plan.new_id is None and plan.copied == []
    rendered = plan.as_json()["steps_to_run"]
    assert [s["request"]["url"] for s in rendered] == [http_sink.url("/a"), http_sink.url("/b")]
    assert rendered[0]["request"]["body"] == {"order": "o1"}
    with engine.db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.EXECUTIONS)).scalar() == 1
    assert http_sink.requests == []


def test_refusals_create_nothing(engine: Engine, http_sink: HttpSink) -> None:
    original = failed_at_step_1(engine, http_sink)
    add_user(engine.db, "viewer-vi", "VIEWER", actor="tester")

    with pytest.raises(ReplayRefused, match="steps 0 to 1"):
        replay_executions(engine.db, engine.queue, [original], from_step=2, actor="tester")
    # A run stopped at step 0: from step 2 would need step 1's result, which never was.
    engine.workflow("three", [], actions=[*actions(http_sink), actions(http_sink)[0]],
                    max_retries=0)  # fmt: skip
    http_sink.reply(Reply(status=500))
    stopped = engine.trigger("three", {"order": "o3"})
    assert engine.run(stopped).status == "FAILED"
    with pytest.raises(ReplayRefused, match=r"step 1 .* has no result"):
        replay_executions(engine.db, engine.queue, [stopped], from_step=2, actor="tester")
    with pytest.raises(PermissionDenied):
        replay_executions(engine.db, engine.queue, [original], actor="viewer-vi")
    with pytest.raises(ExecutionNotFound):
        replay_executions(engine.db, engine.queue, [original, "no-such-run"], actor="tester")
    with pytest.raises(ReplayRefused, match="PATH=VALUE"):
        Patch.parse("no-equals-sign")
    with engine.db.engine.connect() as conn:
        replays = conn.execute(sa.select(E.id).where(E.replay_of.is_not(None))).all()
    assert replays == []


def test_the_cli_says_what_it_will_send_and_creates_the_replay(
    engine: Engine, http_sink: HttpSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = failed_at_step_1(engine, http_sink)
    cli = runner(capsys, write_config(tmp_path / "wfconsole.toml", str(engine.db.url)))

    dry = cli("executions", "replay", original, "--dry-run", "--set", "order=o5", "--user",
              "tester")  # fmt: skip
    done = cli("executions", "replay", original, "--json", "--user", "tester")
    bad = cli("executions", "replay", original, "--from-step", "x", "--user", "tester")
    viewer = cli("executions", "replay", original, "--user", "someone-new")

    assert dry.code == 0, dry.err
    assert "step 0 webhook: copied (SUCCESS), not sent again" in dry.out
    assert f"step 1 webhook: will run POST {http_sink.url('/b')}" in dry.out
    assert '"order": "o5"' in dry.out
    assert done.code == 0, done.err
    [plan] = json.loads(done.out)
    assert execution_row(engine.db, plan["execution"]).replay_of == original
    assert bad.code != 0 and "--from-step" in bad.err and len(bad.err_lines) == 1
    assert viewer.code != 0 and "needs OPERATOR" in viewer.err
    with engine.db.engine.connect() as conn:
        replays = conn.execute(sa.select(E.id).where(E.replay_of == original)).all()
    assert len(replays) == 1  # the dry run and the refusals made none


def test_the_api_replays_for_an_operator(
    engine: Engine, http_sink: HttpSink, tmp_path: Path
) -> None:
    from engine.models import Role
    from tests.api_client import running_api

    original = failed_at_step_1(engine, http_sink)
    for api in running_api(engine.db, tmp_path):
        path = f"/executions/{original}/replay"
        dry = api.call("POST", path, Role.OPERATOR, json={"dry_run": True, "set": {"order": 7}})
        assert dry.status_code == 200, dry.text
        assert dry.json()["steps_to_run"][0]["request"]["body"] == {"order": 7, "after": 200}
        assert api.call("POST", path, Role.VIEWER).status_code == 403
        bad = api.call("POST", path, Role.OPERATOR, json={"from_step": 9})
        assert bad.status_code == 400 and bad.json()["field"] == "from_step"
        odd = api.call("POST", path, Role.OPERATOR, json={"from_step": "1"})
        assert odd.status_code == 400 and odd.json()["field"] == "from_step"
        done = api.call("POST", path, Role.OPERATOR, json={})
        assert done.status_code == 202, done.text
        [new] = done.json()["executions"]
        assert execution_row(engine.db, new).replay_of == original
        assert api.call("POST", "/executions/nope/replay", Role.OPERATOR).status_code == 404
