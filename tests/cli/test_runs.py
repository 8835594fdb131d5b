"""``wfconsole run | event | executions | worker`` as a user runs them: the printed result,
the exit status, one clear line on stderr for every mistake, and the rows left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.execution import claims as store
from engine.execution.executor import Executor
from engine.security import outbound
from engine.services.workflows import save_document
from engine.triggers.new_executions import run_workflow
from tests import http_sink as sink_fixtures
from tests.consumers import Deployment, deployment, running_consumer, wait_until
from tests.execution_support import execution_row, keys_seen, workflow_document
from tests.http_sink import HttpSink, Reply
from wfconsole.cli import main

http_sink = sink_fixtures.http_sink
E, W = store.E, store.W
CONTRACT_KEYS = {
    "id", "workflow", "status", "trigger_type", "started_at", "completed_at", "duration_ms",
    "retry_count", "error",
}  # fmt: skip


@dataclass(frozen=True)
class Result:
    """What one CLI run did."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


class Cli:
    """Runs ``wfconsole ARGS --config <the deployment's file>`` in-process."""

    def __init__(self, deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
        self.deployed = deployed
        self.capsys = capsys

    def __call__(self, *args: str) -> Result:
        # As the user who defined the workflows (the first one: SUPER_ADMIN).
        user = () if "--user" in args else ("--user", "tester")
        try:
            code = main([*args, "--config", str(self.deployed.config_path), *user])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Deployment]:
    """The local-first default: SQLite + SqliteHuey."""
    with deployment("sqlite", tmp_path) as deployed:
        yield deployed


@pytest.fixture(params=["sqlite", "postgres"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(request.param, tmp_path) as deployed:
        yield deployed


def define(deployed: Deployment, name: str, sink: HttpSink, **fields: object) -> str:
    save_document(deployed.db, workflow_document(name, [sink.url(f"/{name}")], **fields),
                  actor="tester")  # fmt: skip
    return name


def trigger(deployed: Deployment, name: str) -> str:
    [execution_id] = run_workflow(deployed.db, deployed.queue, name, actor="tester")
    return execution_id


def run_now(deployed: Deployment, execution_id: str) -> str:
    """Run a queued execution in-process, as a worker would; returns its end state."""
    return Executor(deployed.db, deployed.settings, "cli-test-worker").run(execution_id).status


def execution_count(deployed: Deployment) -> int:
    with deployed.db.engine.connect() as conn:
        count = sa.select(sa.func.count()).select_from(store.EXECUTIONS)
        return int(conn.execute(count).scalar_one())


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.code == 1
    assert result.out == ""
    [line] = result.err_lines
    assert line.startswith("wfconsole: error: ")
    for fragment in fragments:
        assert fragment in line


# --- run and event ------------------------------------------------------------------------


def test_run_wait_prints_the_final_state_and_exits_0(
    local: Deployment, http_sink: HttpSink
) -> None:
    define(local, "greet", http_sink)
    completed = subprocess.run(
        [sys.executable, "-m", "wfconsole.cli", "run", "greet", "--wait", "--data", '{"who": "x"}',
         "--config", str(local.config_path), "--user", "tester"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    [line] = completed.stdout.splitlines()
    execution_id, status, *rest = line.split()
    assert status == "SUCCESS" and rest[0] == "in" and rest[-1] == "ms"
    row = execution_row(local.db, execution_id)
    assert (row.status, row.trigger_type, row.trigger_data) == ("SUCCESS", "manual", {"who": "x"})
    assert keys_seen(http_sink) == [f"{execution_id}:0"]


def test_run_wait_of_a_failing_run_prints_failed_and_exits_1(
    local: Deployment, http_sink: HttpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    define(local, "broken", http_sink)
    http_sink.reply(Reply(404))

    result = Cli(local, capsys)("run", "broken", "--wait", "--timeout", "60")

    assert result.code == 1
    [line] = result.out.splitlines()
    assert line.split()[1] == "FAILED"
    [error] = result.err_lines
    assert error.startswith("error: ") and "HTTP 404" in error


@pytest.mark.parametrize(
    ("data", "message"),
    [("[1, 2]", "--data: must be a JSON object"), ("{oops", "--data: not valid JSON")],
)
def test_run_data_that_is_not_a_json_object_is_a_one_line_error(
    local: Deployment, http_sink: HttpSink, capsys: pytest.CaptureFixture[str],
    data: str, message: str,
) -> None:  # fmt: skip
    define(local, "greet", http_sink)
    result = Cli(local, capsys)("run", "greet", "--data", data)
    assert_one_line_error(result, message)
    assert execution_count(local) == 0


def test_run_of_an_unknown_workflow_is_a_one_line_error(
    local: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    result = Cli(local, capsys)("run", "no-such-flow")
    assert_one_line_error(result, "no-such-flow")
    assert execution_count(local) == 0


def test_run_without_wait_prints_the_id_of_a_queued_execution(
    local: Deployment, http_sink: HttpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    define(local, "greet", http_sink)
    result = Cli(local, capsys)("run", "greet")
    assert result.code == 0
    [execution_id] = result.out.split()
    assert execution_row(local.db, execution_id).status == "PENDING"
    assert local.queue.depth()["queued"] == 1


def test_event_starts_only_enabled_listeners(
    local: Deployment, http_sink: HttpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = [{"type": "event", "event": "order.paid"}]
    define(local, "on-paid", http_sink, triggers=paid)
    define(local, "on-paid-disabled", http_sink, triggers=paid, enabled=False)
    define(local, "on-refund", http_sink, triggers=[{"type": "event", "event": "order.refund"}])
    cli = Cli(local, capsys)

    result = cli("event", "order.paid", "--data", '{"order": 7}')

    assert result.code == 0, result.err
    [execution_id] = result.out.split()
    with local.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(E.id, W.name, E.trigger_type, E.trigger_data).join(
                store.WORKFLOWS, W.id == E.workflow_id
            )
        ).all()
    assert [tuple(r) for r in rows] == [(execution_id, "on-paid", "event", {"order": 7})]

    nobody = cli("event", "nobody.listens")
    assert (nobody.code, nobody.out) == (0, "")
    assert "nobody.listens" in nobody.err
    assert execution_count(local) == 1


# --- executions list / retry / cancel -------------------------------------------------------


def test_executions_list_json_has_the_contract_keys_newest_first(
    deployed: Deployment, http_sink: HttpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    define(deployed, "alpha", http_sink)
    define(deployed, "beta", http_sink)
    ids = [trigger(deployed, "alpha"), trigger(deployed, "beta"), trigger(deployed, "alpha")]
    assert run_now(deployed, ids[0]) == "SUCCESS"
    cli = Cli(deployed, capsys)

    listing = cli("executions", "list", "--json")

    assert listing.code == 0, listing.err
    rows = json.loads(listing.out)
    assert [row["id"] for row in rows] == ids[::-1]
    assert all(set(row) >= CONTRACT_KEYS for row in rows)
    finished = rows[-1]
    assert (finished["workflow"], finished["status"], finished["trigger_type"]) == (
        "alpha", "SUCCESS", "manual",
    )  # fmt: skip
    assert finished["started_at"] and finished["completed_at"]
    assert isinstance(finished["duration_ms"], float)
    assert (finished["retry_count"], finished["error"]) == (0, None)
    assert (rows[0]["status"], rows[0]["completed_at"], rows[0]["duration_ms"]) == (
        "PENDING", None, None,
    )  # fmt: skip

    only_alpha = json.loads(cli("executions", "list", "--json", "--workflow", "alpha").out)
    assert [row["id"] for row in only_alpha] == [ids[2], ids[0]]
    pending = json.loads(cli("executions", "list", "--json", "--status", "pending").out)
    assert [row["id"] for row in pending] == [ids[2], ids[1]]
    newest = json.loads(cli("executions", "list", "--json", "--limit", "1").out)
    assert [row["id"] for row in newest] == [ids[2]]


def test_executions_retry_of_an_unknown_id_is_a_one_line_error(
    local: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    result = Cli(local, capsys)("executions", "retry", "no-such-id")
    assert_one_line_error(result, "no-such-id")


def test_executions_retry_of_a_successful_run_is_a_one_line_error(
    local: Deployment, http_sink: HttpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    define(local, "fine", http_sink)
    execution_id = trigger(local, "fine")
    assert run_now(local, execution_id) == "SUCCESS"

    result = Cli(local, capsys)("executions", "retry", execution_id)

    assert_one_line_error(result, execution_id, "SUCCESS")
    assert execution_row(local.db, execution_id).status == "SUCCESS"


def test_executions_retry_failed_for_a_workflow_retries_only_its_failures(
    deployed: Deployment, http_sink: HttpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    define(deployed, "x-flow", http_sink)
    define(deployed, "y-flow", http_sink)
    http_sink.reply(Reply(404), Reply(200), Reply(404))
    x_failed, x_ok, y_failed = (trigger(deployed, n) for n in ("x-flow", "x-flow", "y-flow"))
    assert [run_now(deployed, i) for i in (x_failed, x_ok, y_failed)] == [
        "FAILED", "SUCCESS", "FAILED",
    ]  # fmt: skip

    result = Cli(deployed, capsys)("executions", "retry", "--failed", "--workflow", "x-flow")

    assert result.code == 0, result.err
    assert result.out.splitlines() == [f"{x_failed}: retrying"]
    assert execution_row(deployed.db, x_failed).status == "PENDING"
    assert execution_row(deployed.db, x_ok).status == "SUCCESS"
    assert execution_row(deployed.db, y_failed).status == "FAILED"


def test_executions_cancel_of_a_pending_run_prints_cancelled(
    deployed: Deployment, http_sink: HttpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    define(deployed, "later", http_sink)
    execution_id = trigger(deployed, "later")

    result = Cli(deployed, capsys)("executions", "cancel", execution_id)

    assert result.code == 0, result.err
    assert result.out.splitlines() == [f"{execution_id}: cancelled"]
    assert execution_row(deployed.db, execution_id).status == "CANCELLED"


def test_executions_cancel_of_an_unknown_id_is_a_one_line_error(
    local: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_error(Cli(local, capsys)("executions", "cancel", "no-such-id"), "no-such-id")


# --- worker -------------------------------------------------------------------------------


def test_worker_runs_queued_executions_and_stops_on_sigterm(
    local: Deployment, http_sink: HttpSink, tmp_path: Path
) -> None:
    define(local, "queued", http_sink)
    execution_id = trigger(local, "queued")

    with running_consumer(local, tmp_path / "worker.log", workers=2, kind="wfconsole") as worker:
        done = wait_until(lambda: execution_row(local.db, execution_id).status == "SUCCESS", 30)
        assert done, worker.log_tail()
        worker.stop()
        assert worker.process.returncode == 0, worker.log_tail()

    assert keys_seen(http_sink) == [f"{execution_id}:0"]
