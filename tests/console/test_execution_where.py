"""``where:EXPR`` in the executions filter: a payload search that runs to the end of the text.

Against the seeded SQLite database: each seeded execution's trigger data is
``{"invoice": {"id": N, "amount": 1250.5}}`` (N its number); ``insert_executions`` rows
carry ``{"n": offset}``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from engine.db import Database
from tests.console.conftest import (
    RecordingBackend,
    Settle,
    execution_id,
    insert_executions,
    screen_text,
)
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.executions import PAGE_SIZE, ExecutionsScreen
from wfconsole.console.views.execution_filter import (
    ExecutionFilter,
    FilterSyntaxError,
    parse_filter,
)

MakeApp = Callable[..., WfConsoleApp]
NEWER = datetime(2024, 6, 1, tzinfo=UTC)


def executions_screen(app: WfConsoleApp) -> ExecutionsScreen:
    screen = app.screen
    assert isinstance(screen, ExecutionsScreen)
    return screen


async def type_filter(pilot: Pilot[Any], settle: Settle, text: str) -> None:
    """``/``, the text (replacing what the bar held), ``enter``."""
    await pilot.press("slash")
    screen = executions_screen(pilot.app)  # type: ignore[arg-type]
    screen.filter_bar.value = ""
    await pilot.press(*("space" if char == " " else char for char in text), "enter")
    await settle(pilot)


# --- the language ----------------------------------------------------------------------


def test_where_takes_the_rest_of_the_text_spaces_and_quotes_included() -> None:
    parsed = parse_filter('status:FAILED where:trigger.customer = "ACME Corp" and error exists')
    assert parsed == ExecutionFilter(
        status="FAILED", where='trigger.customer = "ACME Corp" and error exists'
    )


def test_words_before_where_still_name_the_workflow() -> None:
    parsed = parse_filter("invoice where:trigger.n = 3")
    assert (parsed.workflow, parsed.where) == ("invoice", "trigger.n = 3")


def test_a_filter_with_where_round_trips_through_to_query() -> None:
    original = ExecutionFilter(status="FAILED", workflow="it's odd", where="trigger.a.b in [1, 2]")
    assert original.to_query().endswith("where:trigger.a.b in [1, 2]")
    assert parse_filter(original.to_query()) == original


def test_where_is_handed_to_the_engine_parsed() -> None:
    args = parse_filter("where:trigger.order = o2").query_args(datetime.now(UTC))
    [[rule]] = args["where"]
    assert (rule.root, rule.path, rule.op, rule.value) == ("trigger", ("order",), "=", "o2")


def test_an_empty_where_does_not_filter() -> None:
    assert parse_filter("where:   ").is_empty


def test_where_inside_a_word_is_not_a_search() -> None:
    assert parse_filter("somewhere:else").workflow == "somewhere:else"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("where:order = o2", r"where: 'order': a path starts with trigger\., result\. or is error"),
        ("where:trigger.order", r"where: an operator .* is missing"),
        ("where:trigger.n in 3", r"where: in takes a JSON list"),
        ("where:trigger.n = 1 nor trigger.n = 2", r"where: expected and / or"),
    ],
)
def test_a_malformed_expression_is_refused_with_the_engine_message(text: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        parse_filter(text)


# --- the screen ------------------------------------------------------------------------


async def test_where_finds_exactly_the_runs_whose_payload_matches(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await type_filter(pilot, settle, "where:trigger.invoice.id = 8")
        screen = executions_screen(app)
        assert [row.id for row in screen.rows] == [execution_id(8)]
        assert "filter where:trigger.invoice.id = 8" in screen_text(app)


async def test_where_combines_with_the_other_keys(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await type_filter(pilot, settle, "status:SUCCESS where:trigger.invoice.id <= 7")
        screen = executions_screen(app)
        # Runs 1 and 7 are the SUCCESS runs of the first two workflows (six runs each).
        assert [row.id for row in screen.rows] == [execution_id(1), execution_id(7)]
        assert {row.status for row in screen.rows} == {"SUCCESS"}


async def test_a_malformed_where_shows_the_error_under_the_bar_and_changes_nothing(
    make_app: MakeApp, settle: Settle, recording_backend: RecordingBackend
) -> None:
    app = make_app(backend=recording_backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await type_filter(pilot, settle, "status:FAILED")
        screen = executions_screen(app)
        before, calls = list(screen.rows), len(recording_backend.execution_calls)
        await type_filter(pilot, settle, "status:FAILED where:trigger.n in 3")
        assert screen.filter == ExecutionFilter(status="FAILED")
        assert screen.rows == before
        assert len(recording_backend.execution_calls) == calls  # nothing was read again
        assert screen.filter_bar.is_open
        assert screen.filter_bar.value == "status:FAILED where:trigger.n in 3"
        error = screen.query_one("#executions-filter-error", Static)
        assert error.display
        assert 'where: in takes a JSON list, e.g. ["a", "b"]' in screen_text(app)
        # A good filter takes the error away.
        await type_filter(pilot, settle, "where:trigger.invoice.id = 2")
        assert not error.display
        assert [row.id for row in screen.rows] == [execution_id(2)]


async def test_a_where_search_pages_like_any_filter(
    make_app: MakeApp, settle: Settle, console_db: Database, recording_backend: RecordingBackend
) -> None:
    insert_executions(console_db, "invoice-alert", 250, first_number=1000, newest=NEWER)
    app = make_app(backend=recording_backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await type_filter(pilot, settle, "where:trigger.n >= 30")
        screen = executions_screen(app)
        assert screen.table.row_count == PAGE_SIZE
        for _ in range(3):
            await pilot.press("end")
            await settle(pilot)
        assert screen.exhausted
        assert len(screen.rows) == 220  # offsets 30 to 249
        assert len({row.id for row in screen.rows}) == 220
        assert all(row.id >= execution_id(1030) for row in screen.rows)
        paged = [call for call in recording_backend.execution_calls if "after" in call]
        assert paged and all(call["where"] for call in paged)
