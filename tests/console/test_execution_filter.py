"""The executions filter language: ``status:S workflow:NAME`` or a bare workflow name."""

from __future__ import annotations

import pytest

from wfconsole.execution_filter import ExecutionFilter, FilterSyntaxError, parse_filter


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
