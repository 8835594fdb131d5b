"""The executions filter language: ``key:value`` words (status, workflow, trigger, since,
until, error) or a bare workflow name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wfconsole.console.views.execution_filter import (
    ExecutionFilter,
    FilterSyntaxError,
    parse_filter,
    resolve_time,
)


def test_status_and_workflow_keys_are_read() -> None:
    assert parse_filter("status:failed workflow:invoice-alert") == ExecutionFilter(
        status="FAILED", workflow="invoice-alert"
    )


def test_bare_words_name_the_workflow() -> None:
    assert parse_filter("nightly report") == ExecutionFilter(workflow="nightly report")


def test_quoted_names_round_trip_through_to_query() -> None:
    original = ExecutionFilter(status="SUCCESS", workflow="it's [odd] name")
    assert parse_filter(original.to_query()) == original


def test_empty_text_is_no_filter() -> None:
    assert parse_filter("   ").is_empty


def test_unknown_status_is_refused_with_the_choices() -> None:
    with pytest.raises(FilterSyntaxError, match=r"unknown status 'done'.*FAILED"):
        parse_filter("status:done")


def test_unbalanced_quote_is_refused() -> None:
    with pytest.raises(FilterSyntaxError):
        parse_filter('workflow:"open')


def test_every_key_is_read() -> None:
    text = "status:failed workflow:=nightly-report trigger:HOOK since:2024-04-30 until:2024-05-01"
    text += " error:'smtp 421'"
    assert parse_filter(text) == ExecutionFilter(
        status="FAILED",
        workflow="nightly-report",
        workflow_exact=True,
        trigger="webhook",
        since="2024-04-30",
        until="2024-05-01",
        error="smtp 421",
    )


def test_a_full_filter_round_trips_through_to_query() -> None:
    original = ExecutionFilter(
        workflow="it's odd", workflow_exact=True, trigger="event", since="7d", error="a 'b' c"
    )
    assert parse_filter(original.to_query()) == original


def test_workflow_contains_unless_marked_exact() -> None:
    now = datetime(2024, 5, 2, tzinfo=UTC)
    assert parse_filter("workflow:inv").query_args(now)["workflow_contains"] == "inv"
    exact = parse_filter("workflow:=invoice-alert").query_args(now)
    assert (exact["workflow"], exact["workflow_contains"]) == ("invoice-alert", None)


def test_ages_are_measured_back_from_now_and_dates_are_utc() -> None:
    now = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    args = parse_filter("since:90m until:15m").query_args(now)
    assert args["since"] == datetime(2024, 5, 2, 10, 30, tzinfo=UTC)
    assert args["until"] == datetime(2024, 5, 2, 11, 45, tzinfo=UTC)
    assert resolve_time("2024-05-02T11:59", now) == datetime(2024, 5, 2, 11, 59, tzinfo=UTC)
    assert resolve_time("2024-05-02", now) == datetime(2024, 5, 2, tzinfo=UTC)
    assert resolve_time("2w", now) == now - timedelta(weeks=2)
    assert resolve_time("1d", now) == now - timedelta(hours=24)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("since:yesterday", "neither an age"),
        ("trigger:cron", "unknown trigger 'cron'"),
        ("since:1h until:2h", "since: must be earlier than until"),
        ("status:FAILED status:SUCCESS", "status: give it once"),
        ("workflow:a b", "give the workflow once"),
    ],
)
def test_mistakes_are_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        parse_filter(text)


def test_an_empty_value_does_not_filter() -> None:
    assert parse_filter("error: since:").is_empty
