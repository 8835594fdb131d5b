"""The workflow definition schema: the contract example passes, every malformed file is refused
with the JSON path of its first error, and nothing in a definition is ever code."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.definitions.schema import (
    ACTION_TYPES,
    TRIGGER_TYPES,
    DefinitionError,
    load_definition_text,
    validate_definition,
)

EXAMPLE_PATH = Path(__file__).resolve().parent.parent / "examples" / "large-invoice-alert.json"


def example_document() -> dict[str, Any]:
    """A fresh copy of the contract example (every trigger, condition and action type)."""
    return json.loads(EXAMPLE_PATH.read_text(encoding="utf-8"))


def _changed(change: Callable[[dict[str, Any]], object]) -> str:
    document = example_document()
    change(document)
    return json.dumps(document)


def _nested_not(levels: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"path": "trigger.amount", "op": "exists"}
    for _ in range(levels):
        condition = {"not": condition}
    return condition


@dataclass(frozen=True)
class Malformed:
    """A definition file that must be refused, and what the refusal names."""

    id: str
    text: str
    path: str  # JSON path of the first error; "" for a file that is not a definition at all
    fragment: str  # part of the message


MALFORMED: list[Malformed] = [
    Malformed("missing-name", _changed(lambda d: d.pop("name")), "name", "required"),
    Malformed(
        "no-actions",
        _changed(lambda d: d.__setitem__("actions", [])),
        "actions",
        "must not be empty",
    ),
    Malformed(
        "unknown-action-type",
        _changed(lambda d: d["actions"][1].__setitem__("type", "fax")),
        "actions[1].type",
        "unknown or missing action type",
    ),
    Malformed(
        "unknown-op",
        _changed(lambda d: d["conditions"]["all"][0].__setitem__("op", "like")),
        "conditions.all[0].op",
        "'eq'",
    ),
    Malformed(
        "bad-cron",
        _changed(lambda d: d["triggers"][2].__setitem__("cron", "61 * * * *")),
        "triggers[2].cron",
        "invalid cron expression",
    ),
    Malformed(
        "bad-time-zone",
        _changed(lambda d: d["triggers"][2].__setitem__("timezone", "Mars/Olympus_Mons")),
        "triggers[2].timezone",
        "unknown time zone",
    ),
    Malformed(
        "invalid-url",
        _changed(lambda d: d["actions"][4].__setitem__("url", "https://")),
        "actions[4].url",
        "invalid URL",
    ),
    Malformed(
        "non-http-url",
        _changed(lambda d: d["actions"][4].__setitem__("url", "ftp://erp.example.com/hook")),
        "actions[4].url",
        "only http and https",
    ),
    Malformed(
        "negative-retries",
        _changed(lambda d: d.__setitem__("max_retries", -1)),
        "max_retries",
        "greater than or equal to 0",
    ),
    Malformed(
        "zero-timeout",
        _changed(lambda d: d.__setitem__("timeout", 0)),
        "timeout",
        "greater than 0",
    ),
    Malformed(
        "email-without-recipients",
        _changed(lambda d: d["actions"][1].__setitem__("to", [])),
        "actions[1].to",
        "must not be empty",
    ),
    Malformed(
        "template-attribute-access",
        _changed(lambda d: d["actions"][0].__setitem__("text", "{{ trigger.id.__class__ }}")),
        "actions[0].text",
        "private name",
    ),
    Malformed(
        "template-filter",
        _changed(lambda d: d["actions"][5].__setitem__("title", "{{ trigger.id | upper }}")),
        "actions[5].title",
        "not a plain dotted path",
    ),
    Malformed(
        "template-statement",
        _changed(lambda d: d["actions"][4].__setitem__("body", {"id": "{% import os %}"})),
        "actions[4].body.id",
        "statements",
    ),
    Malformed("non-json", '{"name": "large-invoice-alert",', "", "not valid JSON"),
    Malformed("empty-file", "", "", "empty file"),
    Malformed("json-array", json.dumps([example_document()]), "", "JSON object"),
]


def test_contract_example_validates() -> None:
    definition = validate_definition(example_document())

    assert definition.name == "large-invoice-alert"


def test_contract_example_uses_every_trigger_and_action_type() -> None:
    definition = validate_definition(example_document())

    assert {trigger.type for trigger in definition.triggers} == TRIGGER_TYPES
    assert {action.type for action in definition.actions} == ACTION_TYPES


@pytest.mark.parametrize("case", MALFORMED, ids=[case.id for case in MALFORMED])
def test_malformed_definition_is_refused_naming_its_first_path(case: Malformed) -> None:
    with pytest.raises(DefinitionError) as refused:
        load_definition_text(case.text)

    path, message = refused.value.errors[0]
    assert path == case.path
    assert case.fragment in message


def test_refusal_message_starts_with_the_path() -> None:
    with pytest.raises(DefinitionError) as refused:
        load_definition_text(MALFORMED[0].text)

    assert str(refused.value) == "name: required"


def test_yaml_is_accepted_when_allowed() -> None:
    text = yaml.safe_dump(example_document(), sort_keys=False)

    definition = load_definition_text(text, yaml_allowed=True)

    assert definition.to_document() == example_document()


def test_yaml_is_refused_where_only_json_is_allowed() -> None:
    text = yaml.safe_dump(example_document(), sort_keys=False)

    with pytest.raises(DefinitionError, match="not valid JSON"):
        load_definition_text(text)


def test_yaml_scalar_is_refused() -> None:
    with pytest.raises(DefinitionError, match="expected an object"):
        load_definition_text("just words", yaml_allowed=True)


def test_to_document_round_trips_the_example_unchanged() -> None:
    assert validate_definition(example_document()).to_document() == example_document()


def test_to_document_is_stable_when_validated_again() -> None:
    document = validate_definition(example_document()).to_document()

    assert validate_definition(copy.deepcopy(document)).to_document() == document


def test_to_document_spells_out_omitted_top_level_defaults() -> None:
    minimal = {
        "name": "minimal",
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "create_task", "title": "t"}],
    }

    document = validate_definition(minimal).to_document()

    assert document == {
        "name": "minimal",
        "description": None,
        "enabled": True,
        "category": None,
        "tags": [],
        "priority": 5,
        "max_retries": 3,
        "retry_delay": 60,
        "timeout": 300,
        "triggers": [{"type": "manual"}],
        "conditions": None,
        "actions": [{"type": "create_task", "title": "t"}],
    }


def test_deep_condition_nesting_is_refused_at_conditions() -> None:
    document = example_document()
    document["conditions"] = _nested_not(40)

    with pytest.raises(DefinitionError) as refused:
        validate_definition(document)

    path, message = refused.value.errors[0]
    assert path == "conditions"
    assert "nested deeper than" in message


def test_pathologically_nested_json_is_refused_as_a_definition_error() -> None:
    text = '{"name": "x", "conditions": ' + '{"not": ' * 5000 + "{}" + "}" * 5000 + "}"

    with pytest.raises(DefinitionError, match="nested too deeply"):
        load_definition_text(text)


def test_webhook_path_twice_in_one_definition_is_refused() -> None:
    document = example_document()
    document["triggers"].append({"type": "webhook", "path": "invoice-created"})

    with pytest.raises(DefinitionError, match="appears twice"):
        validate_definition(document)


def test_several_errors_are_counted_in_the_first_line() -> None:
    document = example_document()
    del document["name"]
    document["timeout"] = 0

    with pytest.raises(DefinitionError) as refused:
        validate_definition(document)

    assert refused.value.first_line == "name: required (and 1 more)"
