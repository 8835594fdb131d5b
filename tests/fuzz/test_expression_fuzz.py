"""Conditions and templates under hostile input: a corpus of known sandbox escapes plus
generated text. Every input is refused, or treated as literal data, quickly; nothing
runs (audit-hook canary), and nothing reaches into context values (planted Canary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.definitions.conditions import Condition, evaluate, explain, parse_condition
from engine.definitions.schema import DefinitionError, load_definition_text
from engine.definitions.templating import (
    TemplateError,
    TemplatePath,
    check_template,
    parse_template,
    render_text,
    render_value,
)
from tests.fuzz.budget import FAST_SECONDS, examples, timed
from tests.fuzz.canary import Canary, no_code_runs
from tests.fuzz.definition_strategies import json_values, nested
from tests.test_definition import example_document

CANARY_FILE = Path("/tmp/wfconsole-fuzz-canary-must-not-exist")
_TOUCH = f"__import__('os').system('touch {CANARY_FILE}')"

SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ trigger.__class__.__mro__ }}",
    "{{ trigger.__init__.__globals__ }}",
    "{{ trigger.__globals__['os'] }}",
    "{{ __import__('os') }}",
    "{{ " + _TOUCH + " }}",
    "{{ config.items() }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ request.application.__globals__.__builtins__.__import__('os') }}",
    "{{ trigger['__class__'] }}",
    "{{ trigger|attr('__class__') }}",
    "{{ trigger.id|e }}",
    "{{ trigger.id() }}",
    "{{ trigger.id + 1 }}",
    "{{ 7*7 }}",
    "{{ 9**9**9 }}",
    "{{ " + "9" * 1_000_000 + " }}",
    "{{ trigger.a.0.__class__ }}",
    "{{ steps._private }}",
    "{{ trigger.id }}{{ trigger._x }}",
    "{% import os %}{{ os.system('id') }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% endfor %}",
    "{# comment #}",
    "{{" * 10_000 + "trigger.id" + "}}" * 10_000,
    "{" * 10_000 + "}" * 10_000,
    "{{ trigger.id " + " " * 100_000,
    "{{" + "a" * 100_000,
    "{{ trigger.id\x00 }}",
    "{{ trigger.\u0131d }}",
    "{{ trigger.\uff49\uff44 }}",  # full-width "id",
]

# Odd but plain: accepted, and only the plain path is substituted.
ACCEPTED_ODDITIES = [
    "{{ trigger." + ".".join(["a"] * 10_000) + " }}",
    "\\{{ trigger.s }}",
    "{{ trigger.n }" + "}" * 50_000,
    "{{trigger.n}}" * 10_000,
    "{{ steps.0 }}",
]

# Not templates at all: must come out exactly as they went in.
LITERALS = [
    "${7*7}",
    "${" + _TOUCH + "}",
    "#{7*7}",
    "<%= 7*7 %>",
    "{0.__class__}",
    "{0.__init__.__globals__[os]}",
    "%s%s%s%n",
    "%(trigger)s",
    "{trigger.__class__}",
    "$(touch " + str(CANARY_FILE) + ")",
    "`touch " + str(CANARY_FILE) + "`",
    "9**9**9",
    "9" * 1_000_000,
    "x" * 1_000_000,
    "{ {trigger.id} }",
    "} }",
]

CONDITION_ESCAPES: list[Any] = [
    {"path": "trigger.__class__", "op": "exists"},
    {"path": "trigger.__init__.__globals__", "op": "exists"},
    {"path": "__import__('os')", "op": "exists"},
    {"path": _TOUCH, "op": "eq", "value": 0},
    {"path": "trigger.id", "op": "eval", "value": "1"},
    {"path": "trigger.id", "op": "__eq__", "value": 1},
    {"path": "trigger.id", "op": "eq", "value": {"__class__": "x"}},
    {"path": "trigger.id", "op": "regex", "value": "(a+)+$"},
    {"path": "trigger." + ".".join(["a"] * 10_000), "op": "exists"},
    {"path": "trigger.n", "op": "gt", "value": "9**9**9"},
    {"path": "trigger.n", "op": "gt", "value": 10**4000},
    {"path": "trigger.n", "op": "lt", "value": -1e308},
    {"path": "trigger.n", "op": "eq", "value": nested(10_000)},
    {"path": "trigger.n", "op": "in", "value": list(range(100_000))},
    {"path": "trigger.s", "op": "contains", "value": "a" * 100_000},
    {"not": nested(10_000, {"path": "trigger.id", "op": "exists"}, as_object=True)},
    {"path": "trigger.id", "op": "exists", "value": nested(10_000, as_object=True)},
    {"all": [{"path": "trigger.id", "op": "exists"}] * 5000},
    {"not": None},
    {"all": "trigger.id"},
    {"path": "trigger.id", "op": "exists", "__class__": 1},
]


def _context(trigger: Any) -> dict[str, Any]:
    return {"trigger": trigger, "workflow": {"name": "w"}, "execution": {"id": "e"}, "steps": {}}


def _planted() -> tuple[dict[str, Any], list[Canary]]:
    """A context whose every documented root holds canaries at plausible paths."""
    canaries = [Canary() for _ in range(4)]
    trigger = {"id": canaries[0], "a": [canaries[1]], "s": "a" * 1000, "n": 5, "obj": canaries[2]}
    context = _context(trigger)
    context["steps"] = {"0": canaries[3]}
    return context, canaries


def assert_template_safe(text: str) -> None:
    """Refused, or rendered with only plain paths substituted; fast; nothing ran or was
    reached into; text without ``{{`` comes out unchanged."""
    context, canaries = _planted()
    with no_code_runs():
        seconds, checked = timed(lambda: check_template(text))
        rendered_seconds, rendered = timed(lambda: render_text(text, context))
        value_seconds, value = timed(lambda: render_value({"k": [text]}, context))
    assert max(seconds, rendered_seconds, value_seconds) < FAST_SECONDS
    for outcome in (checked, rendered, value):
        assert not isinstance(outcome, Exception) or isinstance(outcome, TemplateError), outcome
    if "{{" not in text:
        assert rendered == text and value == {"k": [text]}
    if not isinstance(checked, TemplateError) and not isinstance(rendered, TemplateError):
        paths = [p.path for p in parse_template(text) if isinstance(p, TemplatePath)]
        for path in paths:
            root, *rest = path.split(".")
            assert root in context and not any(part.startswith("_") for part in rest)
    assert [c.touched for c in canaries] == [[]] * len(canaries)
    assert not CANARY_FILE.exists()


def assert_condition_safe(raw: Any, trigger: Any = None) -> None:
    """Refused by validation, or evaluated to a bool (explain agreeing), fast, inertly."""
    context, canaries = _planted()
    if trigger is not None:
        context["trigger"] = trigger
    with no_code_runs():
        seconds, parsed = timed(lambda: parse_condition(raw))
        if isinstance(parsed, Exception):
            assert isinstance(parsed, ValidationError), repr(parsed)
        else:
            condition: Condition = parsed
            seconds += timed(lambda: evaluate(condition, context))[0]
            verdict = evaluate(condition, context)
            assert verdict in (True, False)
            assert explain(condition, context).passed is verdict
    assert seconds < FAST_SECONDS * 2, f"{seconds:.3f} s"
    assert [c.touched for c in canaries] == [[]] * len(canaries)
    assert not CANARY_FILE.exists()


@pytest.mark.parametrize("text", SANDBOX_ESCAPES, ids=range(len(SANDBOX_ESCAPES)))
def test_known_sandbox_escapes_are_refused_fast_and_inert(text: str) -> None:
    assert_template_safe(text)
    with pytest.raises(TemplateError):
        check_template(text)


@pytest.mark.parametrize("text", ACCEPTED_ODDITIES, ids=range(len(ACCEPTED_ODDITIES)))
def test_odd_but_plain_templates_substitute_only_their_path(text: str) -> None:
    assert_template_safe(text)
    check_template(text)


@pytest.mark.parametrize("text", LITERALS, ids=range(len(LITERALS)))
def test_other_template_languages_stay_literal_text(text: str) -> None:
    assert_template_safe(text)
    assert render_text(text, _context({})) == text


@pytest.mark.parametrize("raw", CONDITION_ESCAPES, ids=range(len(CONDITION_ESCAPES)))
def test_hostile_conditions_are_refused_or_inert(raw: Any) -> None:
    assert_condition_safe(raw)


def test_huge_numbers_compare_as_numbers_without_overflow() -> None:
    big = {"path": "trigger.n", "op": "gt", "value": 10**4000}
    assert evaluate(parse_condition(big), _context({"n": 1e308})) is False
    assert evaluate(parse_condition(big), _context({"n": 10**4001})) is True
    tiny = {"path": "trigger.n", "op": "lt", "value": 5e-324}
    assert evaluate(parse_condition(tiny), _context({"n": -0.0})) is True


@pytest.mark.parametrize("yaml_allowed", [False, True])
def test_a_million_digit_number_in_a_condition_is_refused_fast(yaml_allowed: bool) -> None:
    text = json.dumps(example_document()).replace('"value": 1000', '"value": 1' + "0" * 10**6)
    seconds, outcome = timed(lambda: load_definition_text(text, yaml_allowed=yaml_allowed))
    assert isinstance(outcome, DefinitionError)
    assert "number is too long" in outcome.first_line
    assert seconds < FAST_SECONDS * 4


_TOKENS = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "${", "{", "}", " ", ".", "_", "__class__", "trigger",
     "steps", "workflow", "execution", "id", "0", "9", "(", ")", "[", "]", "'", "|", "*",
     "\x00", "é", "\n", "os", "import"]
)  # fmt: skip
_TEXTS = st.lists(_TOKENS, max_size=40).map("".join) | st.text(max_size=80)


@settings(max_examples=examples(400))
@given(_TEXTS)
def test_generated_template_text_is_refused_or_literal(text: str) -> None:
    assert_template_safe(text)


_PATHS = st.lists(_TOKENS, min_size=1, max_size=8).map("".join)
_OPS = st.sampled_from(
    ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists", "regex", "__eq__"]
)
_RULES = st.fixed_dictionaries(
    {"path": _PATHS | st.sampled_from(["trigger.id", "trigger.a.0", "trigger.n", "steps.0"]),
     "op": _OPS},
    optional={"value": json_values(max_leaves=10)},
)  # fmt: skip
_CONDITIONS = st.recursive(
    _RULES | json_values(max_leaves=5),
    lambda children: (
        st.fixed_dictionaries({"all": st.lists(children, max_size=4)})
        | st.fixed_dictionaries({"any": st.lists(children, max_size=4)})
        | st.fixed_dictionaries({"not": children})
    ),
    max_leaves=12,
)


@settings(max_examples=examples(300))
@given(_CONDITIONS)
def test_generated_conditions_are_refused_or_evaluate_inertly(raw: Any) -> None:
    assert_condition_safe(raw)


@settings(max_examples=examples(200))
@given(_CONDITIONS, json_values(max_leaves=20))
def test_generated_conditions_over_generated_trigger_data_give_a_bool(
    raw: Any, trigger: Any
) -> None:
    assert_condition_safe(raw, trigger)
