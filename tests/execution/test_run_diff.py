"""Run diff, on SQLite and PostgreSQL, against real runs through a loopback sink.

Two runs of one two-step workflow: the good one (order o1) and a bad one (order o2) whose
second step got a 500. The diff names the trigger path that differs and step 1 as the
first difference (its rendered input, status and error); step 0 differs only in its
rendered input (the order), never in its timings. ``--last-success`` finds the good run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.services.executions import ExecutionNotFound
from engine.services.run_diff import NothingToCompare, diff_executions
from tests.cli.runner import runner, write_config
from tests.execution_support import Engine
from tests.http_sink import HttpSink, Reply


def two_steps(engine: Engine, sink: HttpSink) -> str:
    return engine.workflow("orders", [], actions=[
        {"type": "webhook", "method": "POST", "url": sink.url("/a"),
         "body": {"order": "{{ trigger.order }}"}},
        {"type": "webhook", "method": "POST", "url": sink.url("/b"),
         "body": {"order": "{{ trigger.order }}", "after": "{{ steps.0.result.status_code }}"}},
    ])  # fmt: skip


def test_the_first_difference_is_the_failed_step_and_timings_never_differ(
    engine: Engine, http_sink: HttpSink
) -> None:
    name = two_steps(engine, http_sink)
    good = engine.trigger(name, {"order": "o1"})
    assert engine.run(good).status == "SUCCESS"
    http_sink.reply(Reply(), Reply(status=500, body=b"boom"))
    bad = engine.trigger(name, {"order": "o2"})
    assert engine.run(bad).status in ("FAILED", "RETRY")

    diff = diff_executions(engine.db, bad)  # against the last success

    assert diff.right.id == good and diff.left.id == bad
    assert diff.trigger_paths == ["trigger.order"]
    assert diff.definition_paths == []
    first = diff.first_difference
    assert first is not None and first.index == 0 and first.differs == ("input",)
    step1 = diff.steps[1]
    assert set(step1.differs) >= {"input", "status", "error"}
    assert step1.left is not None and step1.left.input["body"] == {"order": "o2", "after": 200}
    assert step1.right is not None and step1.right.input["body"] == {"order": "o1", "after": 200}
    document = diff.as_json()
    assert document["first_difference"] == {"step": 0, "fields": ["input"]}
    assert document["left"]["steps"][1]["status"] == "FAILED"


def test_same_input_differs_only_at_the_failed_step(engine: Engine, http_sink: HttpSink) -> None:
    name = two_steps(engine, http_sink)
    good = engine.trigger(name, {"order": "o1"})
    engine.run(good)
    http_sink.reply(Reply(), Reply(status=500))
    bad = engine.trigger(name, {"order": "o1"})
    engine.run(bad)

    diff = diff_executions(engine.db, bad, good)

    assert diff.trigger_paths == [] and diff.steps[0].differs == ()
    assert diff.as_json()["first_difference"]["step"] == 1


def test_nothing_to_compare_and_unknown_ids_are_errors(engine: Engine, http_sink: HttpSink) -> None:
    name = two_steps(engine, http_sink)
    http_sink.reply(Reply(status=500))
    only = engine.trigger(name, {"order": "o1"})
    engine.run(only)
    with pytest.raises(NothingToCompare):
        diff_executions(engine.db, only)
    with pytest.raises(ExecutionNotFound):
        diff_executions(engine.db, "no-such-run")
    with pytest.raises(ExecutionNotFound):
        diff_executions(engine.db, only, "no-such-run")


def test_the_diff_never_shows_a_secret(
    engine: Engine, http_sink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "canary-7f3c1e-from-the-environment"
    monkeypatch.setenv("WF_DIFF_KEY", canary)
    name = engine.workflow("keyed", [], actions=[
        {"type": "webhook", "method": "POST", "url": http_sink.url("/k"),
         "headers": {"X-Api-Key": "${WF_DIFF_KEY}", "Authorization": "Bearer ${WF_DIFF_KEY}"},
         "body": {"order": "{{ trigger.order }}"}},
    ])  # fmt: skip
    runs = [engine.trigger(name, {"order": order}) for order in ("o1", "o2")]
    for execution_id in runs:
        assert engine.run(execution_id).status == "SUCCESS"
    assert http_sink.requests[0].headers["x-api-key"] == canary  # it was sent

    text = str(diff_executions(engine.db, runs[1], runs[0]).as_json())

    assert canary not in text


def test_the_cli_prints_the_comparison_and_its_json(
    engine: Engine, http_sink: HttpSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = two_steps(engine, http_sink)
    good = engine.trigger(name, {"order": "o1"})
    engine.run(good)
    http_sink.reply(Reply(), Reply(status=500))
    bad = engine.trigger(name, {"order": "o1"})
    engine.run(bad)
    cli = runner(capsys, write_config(tmp_path / "wfconsole.toml", str(engine.db.url)))

    as_json = cli("executions", "diff", bad, "--json")
    text = cli("executions", "diff", bad, "--against", good)
    both = cli("executions", "diff", bad, "--against", good, "--last-success")
    missing = cli("executions", "diff", "no-such-run")

    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out)["first_difference"]["step"] == 1
    assert text.code == 0 and "first difference: step 1" in text.out
    assert "trigger data: the same" in text.out
    assert both.code != 0 and len(both.err_lines) == 1 and "--against" in both.err
    assert missing.code != 0 and len(missing.err_lines) == 1 and "no-such-run" in missing.err


def test_the_api_serves_the_diff_to_a_viewer(
    engine: Engine, http_sink: HttpSink, tmp_path: Path
) -> None:
    from engine.models import Role
    from tests.api_client import running_api

    name = two_steps(engine, http_sink)
    good = engine.trigger(name, {"order": "o1"})
    engine.run(good)
    http_sink.reply(Reply(), Reply(status=500))
    bad = engine.trigger(name, {"order": "o2"})
    engine.run(bad)
    for api in running_api(engine.db, tmp_path):
        reply = api.call("GET", f"/executions/{bad}/diff", Role.VIEWER)
        assert reply.status_code == 200, reply.text
        assert reply.json()["right"]["id"] == good
        assert reply.json()["trigger_differs"] == ["trigger.order"]
        against = api.call("GET", f"/executions/{good}/diff?against={bad}", Role.VIEWER)
        assert against.json()["left"]["id"] == good
        assert api.call("GET", "/executions/nope/diff", Role.VIEWER).status_code == 404
        assert api.call("GET", f"/executions/{bad}/diff?x=1", Role.VIEWER).status_code == 400
