"""The action contract, rerun against every action type (cases in tests/actions/cases.py)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Protocol

import pytest

from engine.actions import registry
from engine.actions.errors import ActionError
from engine.actions.step_context import ActionOutput, StepContext
from engine.db import Database
from engine.definitions.actions import ACTION_TYPES
from tests.actions.cases import CASES
from tests.actions.contract import (
    CANARY,
    HANG,
    HANG_BUDGET,
    HANG_MARGIN,
    SUCCESS,
    ActionCase,
    settings_for,
)

SUCCESSES = [pytest.param(case, id=case.action_type) for case in CASES]
FAILURES = [
    pytest.param(case, name, id=f"{case.action_type}-{name}")
    for case in CASES
    for name in case.failures
]
HANGS = [
    pytest.param(case, id=case.action_type) for case in CASES if case.hang_transient is not None
]


@dataclass
class Ran:
    """What one run of a runner produced."""

    output: ActionOutput | None
    error: ActionError | None
    elapsed: float


class RunCase(Protocol):
    """Stage `case` for `behaviour` and run its runner with `budget` seconds left."""

    def __call__(self, case: ActionCase, behaviour: str, budget: float = ...) -> Ran: ...


@pytest.fixture
def run(
    sqlite_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> Iterator[RunCase]:
    """Stage a case's peer, run its runner once, then check the canary stayed hidden."""
    stack = ExitStack()
    caplog.set_level(logging.DEBUG)

    def run_case(case: ActionCase, behaviour: str, budget: float = 30.0) -> Ran:
        staged = case.stage(behaviour, stack)
        for name, value in staged.env.items():
            monkeypatch.setenv(name, value)
        runner = registry.runner_for(case.action_type)
        assert runner is not None
        started = time.monotonic()
        ctx = StepContext(
            execution_id="exec-contract",
            step_index=0,
            deadline=started + budget,
            settings=settings_for(staged),
            db=sqlite_db,
        )
        try:
            ran = Ran(runner(staged.fields, ctx), None, 0.0)
        except ActionError as exc:
            ran = Ran(None, exc, 0.0)
        ran.elapsed = time.monotonic() - started
        _assert_canary_hidden(ran, caplog, capfd)
        return ran

    with stack:
        yield run_case


def _assert_canary_hidden(
    ran: Ran, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    shown: list[str] = []
    if ran.output is not None:
        shown += [json.dumps(ran.output.data, default=str), ran.output.summary]
    if ran.error is not None:
        shown += [ran.error.message, repr(ran.error), json.dumps(ran.error.data, default=str)]
        cause: BaseException | None = ran.error
        while cause is not None:
            shown.append(f"{type(cause).__name__}: {cause} {cause.args!r}")
            cause = cause.__cause__ or cause.__context__
    shown += [record.getMessage() for record in caplog.records]
    shown += list(capfd.readouterr())
    leaks = [text for text in shown if CANARY in text]
    assert leaks == [], "the canary secret leaked"


def test_every_action_with_a_runner_has_a_contract_case() -> None:
    assert set(registry.RUNNERS) <= {case.action_type for case in CASES}


def test_every_action_type_of_the_definition_schema_has_a_runner() -> None:
    assert set(ACTION_TYPES) == set(registry.RUNNERS)
    assert all(callable(registry.runner_for(kind)) for kind in ACTION_TYPES)
    assert registry.runner_for("no_such_action") is None


@pytest.mark.parametrize("case", SUCCESSES)
def test_success_returns_json_able_data_and_a_one_line_summary(
    run: RunCase, case: ActionCase
) -> None:
    ran = run(case, SUCCESS)
    assert ran.error is None, ran.error
    assert ran.output is not None
    assert json.loads(json.dumps(ran.output.data)) == ran.output.data
    assert ran.output.summary.strip() and "\n" not in ran.output.summary


@pytest.mark.parametrize(("case", "failure"), FAILURES)
def test_peer_failure_raises_action_error_with_declared_transience(
    run: RunCase, case: ActionCase, failure: str
) -> None:
    ran = run(case, failure)
    assert ran.output is None, f"{failure} succeeded: {ran.output}"
    assert ran.error is not None
    assert ran.error.transient is case.failures[failure], ran.error
    json.dumps(ran.error.data)


@pytest.mark.parametrize("case", HANGS)
def test_hung_peer_ends_within_the_workflow_deadline(run: RunCase, case: ActionCase) -> None:
    ran = run(case, HANG, budget=HANG_BUDGET)
    assert ran.output is None
    assert ran.error is not None
    assert ran.error.transient is case.hang_transient, ran.error
    assert ran.elapsed < HANG_BUDGET + HANG_MARGIN
