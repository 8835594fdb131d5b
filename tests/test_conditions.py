"""Conditions are JSON data: validated by pydantic, evaluated without running any code."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from engine.definitions.conditions import (
    MAX_DEPTH,
    AllOf,
    Condition,
    NotOf,
    Rule,
    check_condition_depth,
    condition_to_json,
    evaluate,
    explain,
    parse_condition,
)
from engine.definitions.templating import MISSING

CONTRACT_EXAMPLE: dict[str, Any] = {
    "all": [
        {"path": "trigger.amount", "op": "gt", "value": 1000},
        {
            "any": [
                {"path": "trigger.currency", "op": "in", "value": ["EUR", "USD"]},
                {"not": {"path": "trigger.test", "op": "eq", "value": True}},
            ]
        },
    ]
}

PAYLOAD: dict[str, Any] = {
    "amount": 1500,
    "price": 9.5,
    "currency": "EUR",
    "name": "Invoice for Ada",
    "tags": ["vip", "eu"],
    "meta": {"source": "erp"},
    "paid": False,
    "count": 1,
    "note": None,
}


def holds(raw: dict[str, Any], trigger: dict[str, Any] | None = None) -> bool:
    return evaluate(parse_condition(raw), {"trigger": PAYLOAD if trigger is None else trigger})


def rule(path: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"path": f"trigger.{path}", "op": op, "value": value}


def error_locs(raw: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as error:
        parse_condition(raw)
    return [(tuple(e["loc"]), e["msg"]) for e in error.value.errors()]


def nested_nots(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"path": "trigger.amount", "op": "exists"}
    for _ in range(depth - 1):
        node = {"not": node}
    return node


# --- the contract example -----------------------------------------------------------------


def test_contract_example_holds_for_a_large_eur_invoice():
    assert holds(CONTRACT_EXAMPLE, {"amount": 1500, "currency": "EUR"})


def test_contract_example_fails_for_a_small_invoice():
    assert not holds(CONTRACT_EXAMPLE, {"amount": 999, "currency": "EUR"})


def test_contract_example_holds_for_other_currency_when_not_a_test():
    assert holds(CONTRACT_EXAMPLE, {"amount": 5000, "currency": "GBP", "test": False})


def test_contract_example_fails_for_other_currency_in_a_test():
    assert not holds(CONTRACT_EXAMPLE, {"amount": 5000, "currency": "GBP", "test": True})


def test_contract_example_fails_when_the_amount_is_missing():
    assert not holds(CONTRACT_EXAMPLE, {"currency": "EUR"})


def test_contract_example_round_trips_to_the_same_json():
    first = condition_to_json(parse_condition(CONTRACT_EXAMPLE))
    assert first == CONTRACT_EXAMPLE
    assert condition_to_json(parse_condition(first)) == CONTRACT_EXAMPLE


def test_exists_without_value_round_trips_without_value():
    raw = {"path": "trigger.id", "op": "exists"}
    assert condition_to_json(parse_condition(raw)) == raw


def test_parsed_example_is_built_from_the_node_models():
    condition = parse_condition(CONTRACT_EXAMPLE)
    assert isinstance(condition, AllOf)
    assert isinstance(condition.all_[0], Rule)


# --- every op -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (rule("currency", "eq", "EUR"), True),
        (rule("currency", "eq", "USD"), False),
        (rule("currency", "ne", "USD"), True),
        (rule("currency", "ne", "EUR"), False),
        (rule("amount", "gt", 1000), True),
        (rule("amount", "gt", 1500), False),
        (rule("amount", "gte", 1500), True),
        (rule("amount", "lt", 1500.5), True),
        (rule("amount", "lt", 1500), False),
        (rule("amount", "lte", 1500), True),
        (rule("price", "gt", 9), True),
        (rule("name", "gt", "Invoice"), True),
        (rule("name", "lt", "A"), False),
        (rule("currency", "in", ["EUR", "USD"]), True),
        (rule("currency", "in", ["GBP"]), False),
        (rule("currency", "not_in", ["GBP"]), True),
        (rule("currency", "not_in", ["EUR"]), False),
        (rule("name", "contains", "Ada"), True),
        (rule("name", "contains", "Bob"), False),
        (rule("tags", "contains", "vip"), True),
        (rule("tags", "contains", "us"), False),
        (rule("meta", "contains", "source"), True),
        (rule("meta", "contains", "erp"), False),
        (rule("amount", "exists", True), True),
        (rule("amount", "exists", False), False),
    ],
    ids=lambda value: str(value) if isinstance(value, bool) else None,
)
def test_each_op_compares_the_value_at_the_path(raw, expected):
    assert holds(raw) is expected


def test_eq_matches_whole_objects_and_lists():
    assert holds(rule("meta", "eq", {"source": "erp"}))
    assert holds(rule("tags", "eq", ["vip", "eu"]))


def test_eq_null_matches_a_present_null():
    assert holds(rule("note", "eq", None))


def test_exists_is_true_for_a_present_null():
    assert holds({"path": "trigger.note", "op": "exists"})


def test_exists_defaults_to_true():
    assert holds({"path": "trigger.amount", "op": "exists"})
    assert not holds({"path": "trigger.nope", "op": "exists"})


# --- type mismatches ----------------------------------------------------------------------


def test_boolean_never_equals_a_number():
    assert not holds(rule("count", "eq", True))
    assert not holds(rule("paid", "eq", 0))
    assert holds(rule("count", "ne", True))


def test_booleans_nested_in_lists_do_not_equal_numbers():
    assert not holds(rule("flags", "eq", [1, 0]), {"flags": [True, False]})


def test_int_equals_float_of_the_same_value():
    assert holds(rule("amount", "eq", 1500.0))


def test_in_does_not_match_a_boolean_against_numbers():
    assert not holds(rule("paid", "in", [0, 1]))
    assert holds(rule("paid", "not_in", [0, 1]))


def test_list_contains_does_not_match_a_boolean_against_a_number():
    assert not holds(rule("flags", "contains", 1), {"flags": [True]})


@pytest.mark.parametrize(
    ("path", "value"),
    [("amount", "1000"), ("name", 5), ("paid", 0), ("meta", 1), ("note", 1), ("tags", "a")],
)
def test_ordered_ops_on_mismatched_types_are_false_not_errors(path, value):
    for op in ("gt", "gte", "lt", "lte"):
        assert not holds(rule(path, op, value))


def test_contains_on_a_number_is_false():
    assert not holds(rule("amount", "contains", "1"))


def test_contains_with_unhashable_value_on_an_object_is_false():
    assert not holds(rule("meta", "contains", ["source"]))


# --- missing paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        rule("nope", "eq", None),
        rule("nope", "ne", 1),
        rule("nope", "gt", 0),
        rule("nope", "in", [None]),
        rule("nope", "not_in", [1]),
        rule("nope", "contains", "x"),
        rule("amount.cents", "eq", 0),
        rule("tags.5", "eq", "vip"),
    ],
)
def test_rule_on_a_missing_path_is_false(raw):
    assert not holds(raw)


def test_exists_false_holds_when_the_path_is_missing():
    assert holds(rule("nope", "exists", False))


def test_not_of_a_missing_path_rule_holds():
    assert holds({"not": rule("nope", "eq", 1)})


def test_list_index_paths_reach_into_arrays():
    assert holds(rule("tags.1", "eq", "eu"))


# --- validation ---------------------------------------------------------------------------


def test_unknown_root_is_refused_at_path():
    [(loc, message)] = error_locs({"path": "payload.amount", "op": "gt", "value": 1})
    assert loc == ("<rule>", "path")
    assert "unknown path root 'payload'" in message


@pytest.mark.parametrize("path", ["trigger.items[0]", "trigger.__class__", "trigger..x", ""])
def test_path_that_is_not_a_plain_dotted_path_is_refused(path):
    assert error_locs({"path": path, "op": "exists"})[0][0] == ("<rule>", "path")


def test_in_needs_a_list_value():
    [(loc, message)] = error_locs(rule("currency", "in", "EUR"))
    assert loc == ("<rule>", "value")
    assert "needs a list value" in message


def test_in_without_value_is_refused():
    assert "needs a list value" in error_locs({"path": "trigger.x", "op": "not_in"})[0][1]


@pytest.mark.parametrize("value", [None, True, [1], {"a": 1}])
def test_ordered_op_needs_a_number_or_string_value(value):
    assert "number or string" in error_locs(rule("amount", "gt", value))[0][1]


def test_exists_value_must_be_a_boolean():
    assert "true or false" in error_locs(rule("amount", "exists", "yes"))[0][1]


def test_unknown_op_is_refused():
    assert error_locs(rule("amount", "between", [1, 2]))[0][0] == ("<rule>", "op")


def test_unknown_field_is_refused():
    assert error_locs({"path": "trigger.a", "op": "exists", "when": 1})[0][0] == ("<rule>", "when")


@pytest.mark.parametrize("key", ["all", "any"])
def test_empty_combinator_list_is_refused(key):
    [(loc, message)] = error_locs({key: []})
    assert loc == (f"<{key}>", key)
    assert "at least one condition" in message


def test_non_object_condition_gets_a_clear_message():
    [(loc, message)] = error_locs({"all": ["trigger.amount > 5"]})
    assert loc == ("<all>", "all", 0)
    assert message == "expected a condition object with 'path'/'op', 'all', 'any' or 'not'"


def test_nested_error_location_uses_angle_bracket_tags():
    raw = {"any": [rule("a", "exists"), {"not": rule("b", "in", 3)}]}
    assert error_locs(raw)[0][0] == ("<any>", "any", 1, "<not>", "not", "<rule>", "value")


def test_nesting_at_the_depth_limit_is_accepted():
    assert isinstance(parse_condition(nested_nots(MAX_DEPTH)), NotOf)


def test_nesting_past_the_depth_limit_is_refused():
    [(_, message)] = error_locs(nested_nots(MAX_DEPTH + 1))
    assert f"nested deeper than {MAX_DEPTH} levels" in message


def test_very_deep_nesting_is_refused_quickly_without_recursion():
    raw = nested_nots(200_000)
    started = time.perf_counter()
    with pytest.raises(ValidationError, match="nested deeper"):
        parse_condition(raw)
    with pytest.raises(ValueError, match="nested deeper"):
        check_condition_depth(raw)
    assert time.perf_counter() - started < 5.0  # catastrophic backtracking takes minutes


def test_shared_reference_bomb_is_refused_quickly():
    node: dict[str, Any] = rule("amount", "exists", True)
    for _ in range(30):  # like YAML anchors/aliases: 2**30 leaves, 31 distinct objects
        node = {"all": [node, node]}
    started = time.perf_counter()
    with pytest.raises(ValidationError, match="more than"):
        parse_condition(node)
    assert time.perf_counter() - started < 5.0  # catastrophic backtracking takes minutes


def test_check_condition_depth_accepts_the_contract_example():
    check_condition_depth(CONTRACT_EXAMPLE)


def test_condition_works_as_an_optional_model_field():
    class Holder(BaseModel):
        conditions: Condition | None = None

    assert Holder(conditions=None).conditions is None
    holder = Holder.model_validate({"conditions": CONTRACT_EXAMPLE})
    assert isinstance(holder.conditions, AllOf)
    assert holder.model_dump(by_alias=True, exclude_unset=True) == {"conditions": CONTRACT_EXAMPLE}


# --- explain ------------------------------------------------------------------------------


def test_explain_reports_rule_text_actual_value_and_verdict():
    context = {"trigger": {"amount": 50, "currency": "GBP"}}
    trace = explain(parse_condition(CONTRACT_EXAMPLE), context)
    amount, any_node = trace.children
    assert (trace.kind, trace.passed) == ("all", False)
    assert (amount.text, amount.actual, amount.passed) == ("trigger.amount gt 1000", 50, False)
    currency, not_node = any_node.children
    assert currency.text == 'trigger.currency in ["EUR", "USD"]'
    assert (not_node.kind, not_node.passed) == ("not", True)
    assert not_node.children[0].actual is MISSING


def test_explain_evaluates_every_branch_without_short_circuit():
    raw = {"any": [rule("amount", "gt", 0), rule("currency", "eq", "EUR")]}
    trace = explain(parse_condition(raw), {"trigger": PAYLOAD})
    assert [child.passed for child in trace.children] == [True, True]


def test_explain_agrees_with_evaluate():
    for trigger in ({"amount": 5000, "currency": "GBP", "test": True}, {"amount": 2000}):
        condition = parse_condition(CONTRACT_EXAMPLE)
        context = {"trigger": trigger}
        assert explain(condition, context).passed is evaluate(condition, context)


def test_explain_writes_exists_rules_readably():
    trace = explain(parse_condition(rule("gone", "exists", False)), {"trigger": {}})
    assert (trace.text, trace.passed) == ("trigger.gone exists false", True)
