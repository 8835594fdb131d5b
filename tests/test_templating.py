"""Templates are plain dotted-path substitution: data in, text out, never code."""

from __future__ import annotations

import contextlib
import pickle
import re
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.definitions.templating import (
    MISSING,
    MissingPath,
    TemplateError,
    check_template,
    find_template_errors,
    lookup,
    parse_path,
    render_text,
    render_value,
    resolve_path,
)

CONTEXT: dict[str, Any] = {
    "trigger": {
        "id": "INV-7",
        "amount": 1250.5,
        "count": 3,
        "paid": False,
        "note": None,
        "customer": {"name": "Ada", "tags": ["vip"]},
        "items": [{"sku": "A-1"}, {"sku": "B-2"}, {"sku": "C-3"}],
    },
    "workflow": {"name": "large-invoice-alert"},
    "execution": {"id": 42},
    "steps": [{"status": "SUCCESS", "output": {"ticket": 9}}],
}

SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ config.items() }}",
    "{{ self._TemplateReference__context }}",
    "{% for x in y %}{{ x }}{% endfor %}",
    "{{ 7*7 }}",
    "{{ lipsum.__globals__ }}",
    "{{ x | upper }}",
    "{{ trigger.id | upper }}",
    "{{ x() }}",
    "{{ trigger.items[0] }}",
    "{{ __class__ }}",
    "{{ trigger.__class__ }}",
    "{{ trigger._private }}",
    "{{ request.application.__globals__.__builtins__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ trigger['id'] }}",
    "{# a comment #}",
    "{%- set x = 1 -%}",
    "{{ trigger.id ",
    "{{}}",
    "{{ {{ trigger.id }} }}",
]


# --- check_template -----------------------------------------------------------------------


def test_plain_dotted_paths_under_every_root_are_accepted():
    check_template("{{ trigger.id }} {{workflow.name}} {{ execution.id }} {{ steps.0.status }}")


def test_list_indexes_inside_paths_are_accepted():
    check_template("{{ trigger.items.2.sku }}")


def test_text_without_templates_is_accepted():
    check_template("Invoice over 1000 } } {")


@pytest.mark.parametrize("text", SANDBOX_ESCAPES)
def test_known_sandbox_escapes_are_refused(text):
    with pytest.raises(TemplateError):
        check_template(text)


def test_dollar_brace_expression_is_literal_text_not_a_template():
    check_template("${7*7}")
    assert render_text("${7*7} and ${SECRET}", CONTEXT) == "${7*7} and ${SECRET}"


def test_filter_is_refused_with_message_quoting_the_template():
    with pytest.raises(TemplateError, match=r"not a plain dotted path: '\{\{ x \| upper \}\}'"):
        check_template("Hi {{ x | upper }}!")


def test_unknown_root_is_refused_with_the_allowed_roots_listed():
    with pytest.raises(TemplateError) as error:
        check_template("{{ foo.bar }}")
    assert str(error.value) == (
        "unknown template root 'foo' (expected one of trigger, workflow, execution, steps)"
    )


def test_private_segment_is_refused_naming_it():
    with pytest.raises(TemplateError, match="private name '__class__'"):
        check_template("{{ trigger.__class__ }}")


def test_unclosed_template_is_refused_as_unclosed():
    with pytest.raises(TemplateError, match="unclosed"):
        check_template("Invoice {{ trigger.id")


def test_statement_block_is_refused_as_statement():
    with pytest.raises(TemplateError, match="statements and comments"):
        check_template("{% if trigger.paid %}paid{% endif %}")


def test_error_message_for_a_long_template_is_truncated():
    with pytest.raises(TemplateError) as error:
        check_template("{{ " + "x " * 5000 + "}}")
    assert len(str(error.value)) < 200


def test_hostile_string_of_100k_openers_is_refused_fast():
    started = time.perf_counter()
    with pytest.raises(TemplateError, match="unclosed"):
        check_template("{{" * 100_000)
    assert time.perf_counter() - started < 5.0  # catastrophic backtracking takes minutes


@pytest.mark.parametrize(
    "text",
    [
        "{{ a" * 30_000,
        "{{ trigger.id }}" + "{" * 100_000,
        "{{ " + "a." * 50_000 + "}}",
        "{{" + "x" * 100_000 + "{{" + "x" * 100_000,
        "{%" * 100_000,
    ],
    ids=["repeated-open-path", "trailing-braces", "very-long-path", "long-runs", "statements"],
)
def test_hostile_long_strings_are_refused_fast(text):
    started = time.perf_counter()
    with pytest.raises(TemplateError):
        check_template(text)
    assert time.perf_counter() - started < 5.0  # catastrophic backtracking takes minutes


def test_many_valid_templates_in_a_long_string_render_fast():
    text = "{{ trigger.id }}," * 20_000
    started = time.perf_counter()
    rendered = render_text(text, CONTEXT)
    assert time.perf_counter() - started < 5.0  # catastrophic backtracking takes minutes
    assert rendered == "INV-7," * 20_000


# --- find_template_errors -----------------------------------------------------------------


def test_find_template_errors_reports_subpaths_of_bad_strings():
    value = {"id": "{{ trigger.id }}", "body": {"bad": "{{ x() }}"}, "list": ["ok", "{% x %}"]}
    errors = find_template_errors(value)
    assert [subpath for subpath, _ in errors] == [".body.bad", ".list[1]"]


def test_find_template_errors_uses_empty_subpath_for_a_bad_root_string():
    assert find_template_errors("{{ foo }}")[0][0] == ""


def test_find_template_errors_ignores_non_strings_and_dict_keys():
    assert find_template_errors({"{{ x() }}": [1, None, True, 2.5]}) == []


def test_find_template_errors_handles_deep_nesting_without_recursion():
    value: object = "{{ x() }}"
    for _ in range(5000):
        value = [value]
    errors = find_template_errors(value)
    assert errors[0][0] == "[0]" * 5000


# --- paths --------------------------------------------------------------------------------


def test_parse_path_splits_segments():
    assert parse_path("trigger.items.2.sku") == ("trigger", "items", "2", "sku")


def test_resolve_path_follows_keys_and_indexes():
    assert resolve_path(CONTEXT, "trigger.items.1.sku") == "B-2"


def test_resolve_path_returns_falsy_values_present_in_the_context():
    assert resolve_path(CONTEXT, "trigger.note") is None
    assert resolve_path(CONTEXT, "trigger.paid") is False


def test_missing_key_error_names_the_path():
    with pytest.raises(MissingPath) as error:
        resolve_path(CONTEXT, "trigger.customer.email")
    assert error.value.path == "trigger.customer.email"
    assert str(error.value) == (
        "missing value for 'trigger.customer.email': 'trigger.customer' has no key 'email'"
    )


def test_index_out_of_range_is_missing():
    with pytest.raises(MissingPath) as error:
        resolve_path(CONTEXT, "trigger.items.7.sku")
    assert error.value.reason == "'trigger.items' has 3 items, so no index '7'"


def test_huge_index_is_missing_not_a_crash():
    with pytest.raises(MissingPath):
        resolve_path(CONTEXT, "trigger.items." + "9" * 5000)


def test_descending_into_a_scalar_is_missing():
    with pytest.raises(MissingPath, match=re.escape("'trigger.amount' is a number")):
        resolve_path(CONTEXT, "trigger.amount.cents")


def test_root_absent_from_context_is_missing():
    with pytest.raises(MissingPath, match="'steps' is not in the context"):
        resolve_path({"trigger": {}}, "steps.0")


def test_string_is_not_indexed_into():
    with pytest.raises(MissingPath):
        resolve_path(CONTEXT, "trigger.id.0")


def test_missing_path_error_survives_pickling():
    error = MissingPath("trigger.x", "'trigger' has no key 'x'")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_lookup_returns_default_when_missing():
    assert lookup(CONTEXT, "trigger.nope") is MISSING
    assert lookup(CONTEXT, "trigger.nope", 0) == 0
    assert lookup(CONTEXT, "trigger.count") == 3


# --- render_text / render_value -----------------------------------------------------------


def test_render_text_substitutes_strings_and_numbers():
    text = "Invoice {{ trigger.id }}: {{trigger.amount}} x{{ trigger.count }}"
    assert render_text(text, CONTEXT) == "Invoice INV-7: 1250.5 x3"


def test_render_text_writes_none_as_empty_and_booleans_as_json():
    assert render_text("[{{ trigger.note }}|{{ trigger.paid }}]", CONTEXT) == "[|false]"


def test_render_text_writes_objects_as_compact_json():
    assert render_text("c={{ trigger.customer }}", CONTEXT) == 'c={"name":"Ada","tags":["vip"]}'


def test_render_text_missing_path_error_names_the_path():
    with pytest.raises(MissingPath, match=re.escape("'trigger.customer.email'")):
        render_text("to {{ trigger.customer.email }}", CONTEXT)


def test_render_text_refuses_a_bad_template():
    with pytest.raises(TemplateError):
        render_text("{{ trigger.id | upper }}", CONTEXT)


def test_render_value_keeps_the_type_of_a_sole_template():
    body = {"amount": " {{ trigger.amount }} ", "items": "{{ trigger.items }}", "n": 5}
    rendered = render_value(body, CONTEXT)
    assert rendered == {"amount": 1250.5, "items": CONTEXT["trigger"]["items"], "n": 5}


def test_render_value_renders_mixed_strings_as_text():
    assert render_value(["#{{ execution.id }}", "{{ execution.id }}"], CONTEXT) == ["#42", 42]


def test_render_value_leaves_dict_keys_untemplated():
    assert render_value({"{{ trigger.id }}": "x"}, CONTEXT) == {"{{ trigger.id }}": "x"}


def test_render_value_reads_step_outputs():
    assert render_value("{{ steps.0.output.ticket }}", CONTEXT) == 9


# --- properties ---------------------------------------------------------------------------


@given(st.text())
def test_check_template_raises_only_template_error_on_any_text(text):
    with contextlib.suppress(TemplateError):
        check_template(text)


@given(st.text(alphabet=st.sampled_from("{}%#_. ax0\n")))
def test_check_template_raises_only_template_error_on_brace_heavy_text(text):
    with contextlib.suppress(TemplateError):
        check_template(text)


@given(st.text().filter(lambda text: "{{" not in text))
def test_render_text_without_openers_returns_text_unchanged(text):
    assert render_text(text, CONTEXT) == text
