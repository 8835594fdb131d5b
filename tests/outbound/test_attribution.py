"""Every outbound action type attributes its calls to a destination, and a hold on that
destination stops the call before it is made: the real runners against their loopback
peers (the action contract's cases: webhook, email over SMTP, SMS over Twilio's API,
Slack, Teams).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from engine.actions import registry
from engine.actions.errors import ActionError
from engine.actions.step_context import StepContext
from engine.config import Settings
from engine.db import Database
from engine.outbound.gate import GATE
from engine.outbound.holds import DestinationWaiting
from engine.services.destinations import hold
from tests.actions.cases import CASES
from tests.actions.contract import SUCCESS, ActionCase, settings_for

OUTBOUND = [
    pytest.param(case, id=case.action_type)
    for case in CASES
    if case.action_type in ("webhook", "email", "sms", "slack", "teams")
]


@pytest.fixture
def gated(sqlite_db: Database) -> Iterator[Database]:
    """This process's gate on ``sqlite_db`` (as a worker's executor configures it)."""
    GATE.configure(sqlite_db, Settings(), "test:1:x")
    GATE.stats.take_dirty()
    try:
        yield sqlite_db
    finally:
        GATE.stop(sqlite_db)


def _runner(case: ActionCase, db: Database, stack: ExitStack,
            monkeypatch: pytest.MonkeyPatch) -> Callable[[], object]:  # fmt: skip
    """Stage the case's peer once; a call of the result runs the runner against it."""
    staged = case.stage(SUCCESS, stack)
    for name, value in staged.env.items():
        monkeypatch.setenv(name, value)
    runner = registry.runner_for(case.action_type)
    assert runner is not None

    def run() -> object:
        ctx = StepContext(
            execution_id="exec-attribution", step_index=0, deadline=time.monotonic() + 30,
            settings=settings_for(staged), db=db,
        )  # fmt: skip
        return runner(staged.fields, ctx)

    return run


@pytest.mark.parametrize("case", OUTBOUND)
def test_a_call_is_counted_for_its_destination_and_a_hold_stops_the_next(
    case: ActionCase, gated: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ExitStack() as stack:
        run = _runner(case, gated, stack, monkeypatch)
        run()
        counted = GATE.stats.take_dirty()
        assert len(counted) == 1, counted
        [(destination, _minute, figures)] = counted
        assert destination.startswith(("127.0.0.1:", "localhost:", "[::1]:")), destination
        assert (figures.calls, figures.errors) == (1, 0)

        hold(gated, destination, actor="tester")
        GATE.refresh()  # what the executor does before each wave of steps
        with pytest.raises(DestinationWaiting) as waited:
            try:
                run()
            except ActionError as exc:  # pragma: no cover - the failure it must not be
                pytest.fail(f"the held call failed instead of waiting: {exc}")
    assert waited.value.destination == destination and waited.value.until is None
    assert GATE.stats.take_dirty() == []  # no call was made
