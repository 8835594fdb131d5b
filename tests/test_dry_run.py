"""The dry run: condition verdicts and rendered requests, with nothing sent or stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.definitions.sample_payload import sample_payload
from engine.definitions.schema import WorkflowDefinition, load_definition_text, validate_definition
from engine.execution.dry_run import dry_run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "large-invoice-alert.json"


@pytest.fixture
def invoice_alert() -> WorkflowDefinition:
    return load_definition_text(EXAMPLE.read_text())


def hook(**action: Any) -> WorkflowDefinition:
    return validate_definition(
        {
            "name": "hook",
            "triggers": [{"type": "event", "event": "order.paid"}],
            "actions": [{"type": "webhook", "url": "https://example.com/x", **action}],
        }
    )


def test_conditions_that_hold_let_the_run_go_ahead(invoice_alert: WorkflowDefinition) -> None:
    result = dry_run(invoice_alert, {"id": 7, "amount": 1500, "currency": "EUR", "customer": "A"})
    assert result.conditions_passed is True
    assert [(line.depth, line.text, line.passed) for line in result.conditions] == [
        (0, "all", True),
        (1, "trigger.amount gt 1000", True),
        (1, "any", True),
        (2, 'trigger.currency in ["EUR", "USD"]', True),
        (2, "not", True),
        (3, "trigger.test eq true", False),
    ]
    assert result.conditions[1].actual == "1500"
    assert result.conditions[5].actual is None  # the path is missing


def test_a_failing_rule_skips_the_run_and_says_which(invoice_alert: WorkflowDefinition) -> None:
    result = dry_run(invoice_alert, {"id": 7, "amount": 10, "currency": "EUR", "customer": "A"})
    assert result.conditions_passed is False
    failing = [line.text for line in result.conditions if not line.passed]
    assert failing == ["all", "trigger.amount gt 1000", "trigger.test eq true"]


def test_no_conditions_always_run() -> None:
    result = dry_run(hook(), {})
    assert result.conditions_passed is True
    assert result.conditions == ()


def test_webhook_request_is_rendered_with_the_headers_the_sender_adds() -> None:
    definition = hook(
        method="put",
        url="https://erp.example.com/orders/{{ trigger.order.id }}",
        headers={"X-Workflow": "{{ workflow.name }}"},
        body={"amount": "{{ trigger.order.amount }}", "note": "paid {{ trigger.order.amount }}"},
    )
    result = dry_run(definition, {"order": {"id": "A-1", "amount": 12.5}})
    request = result.actions[0].request
    assert request is not None
    assert request.method == "PUT"
    assert request.url == "https://erp.example.com/orders/A-1"
    assert request.headers["X-Workflow"] == "hook"
    assert request.headers["Idempotency-Key"] == "dry-run:0"
    assert request.headers["Content-Type"] == "application/json"
    # A field that is one template keeps the value's type, as the executor renders it.
    assert request.body == {"amount": 12.5, "note": "paid 12.5"}
    assert result.problems == ()


def test_a_get_webhook_sends_no_body() -> None:
    request = dry_run(hook(method="GET", body={"a": 1}), {}).actions[0].request
    assert request is not None
    assert request.body is None
    assert "Content-Type" not in request.headers


def test_every_action_type_is_rendered(invoice_alert: WorkflowDefinition) -> None:
    payload = {"id": 7, "amount": 1500, "currency": "EUR", "customer": "ACME"}
    actions = dry_run(invoice_alert, payload).actions
    assert [a.type for a in actions] == [
        "slack", "email", "sms", "teams", "webhook", "create_task", "create_project",
        "create_invoice",
    ]  # fmt: skip
    assert actions[0].fields["text"] == "Invoice 7: 1500"
    assert actions[1].fields["subject"] == "Invoice 7"
    assert actions[5].fields["title"] == "Check invoice 7"
    assert actions[6].fields["name"] == "Onboard ACME"  # create_project's own name field
    assert actions[7].fields["amount"] == 1500
    assert all(a.request is None for i, a in enumerate(actions) if i != 4)


def test_missing_template_paths_are_reported_by_json_path(
    invoice_alert: WorkflowDefinition,
) -> None:
    result = dry_run(invoice_alert, {"amount": 1500})
    paths = [problem.path for problem in result.problems]
    assert paths == [
        "actions[0].text",
        "actions[1].subject",
        "actions[4].body.id",
        "actions[5].title",
        "actions[6].name",
        "actions[7].customer",
    ]
    assert "'trigger' has no key 'id'" in result.problems[0].message
    # The field that failed keeps its template text rather than half a render.
    assert result.actions[0].fields["text"] == "Invoice {{ trigger.id }}: {{ trigger.amount }}"


def test_secret_references_are_listed_but_never_expanded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPORTS_API_TOKEN", "s3cr3t-value")
    result = dry_run(hook(headers={"Authorization": "Bearer ${REPORTS_API_TOKEN}"}), {})
    preview = result.actions[0]
    assert preview.secrets == ("REPORTS_API_TOKEN",)
    assert preview.request is not None
    assert preview.request.headers["Authorization"] == "Bearer ${REPORTS_API_TOKEN}"
    assert "s3cr3t-value" not in repr(result)


def test_earlier_step_results_are_known_only_at_run_time() -> None:
    definition = validate_definition(
        {
            "name": "chain",
            "triggers": [{"type": "manual"}],
            "actions": [
                {"type": "webhook", "url": "https://example.com/a"},
                {
                    "type": "slack",
                    "channel": "#ops",
                    "text": "got {{ steps.0.result.status_code }}",
                },
                {"type": "slack", "channel": "#ops", "text": "{{ steps.5.result.body }}"},
            ],
        }
    )
    result = dry_run(definition, {})
    second, third = result.actions[1], result.actions[2]
    assert second.deferred == ("steps.0.result.status_code",)
    assert second.fields["text"] == "got {{ steps.0.result.status_code }}"
    assert second.problems == ()
    # A later step is never available to an earlier one: that is a real error.
    assert [p.path for p in third.problems] == ["actions[2].text"]


def test_the_context_matches_the_executors(invoice_alert: WorkflowDefinition) -> None:
    result = dry_run(invoice_alert, {"a": 1}, trigger_type="event")
    assert set(result.context) == {"trigger", "workflow", "execution", "steps"}
    assert result.context["workflow"]["name"] == "large-invoice-alert"
    assert result.context["execution"]["trigger_type"] == "event"
    assert result.context["steps"] == []


def test_hostile_payload_values_come_back_unchanged() -> None:
    hostile = "[@click=app.quit]x[/] \x1b[2J"
    result = dry_run(hook(body={"v": "{{ trigger.v }}"}), {"v": hostile})
    request = result.actions[0].request
    assert request is not None
    assert request.body == {"v": hostile}


def test_the_sample_payload_passes_the_conditions_and_fills_the_templates(
    invoice_alert: WorkflowDefinition,
) -> None:
    payload = sample_payload(invoice_alert)
    assert payload["amount"] > 1000
    assert payload["currency"] in ("EUR", "USD")
    result = dry_run(invoice_alert, payload)
    assert result.conditions_passed is True
    assert result.problems == ()
    json.dumps(payload)  # it is plain JSON the operator can edit


def test_the_sample_payload_leaves_rules_under_not_alone() -> None:
    definition = validate_definition(
        {
            "name": "n",
            "triggers": [{"type": "manual"}],
            "conditions": {"not": {"path": "trigger.test", "op": "eq", "value": True}},
            "actions": [{"type": "slack", "channel": "#x", "text": "hi"}],
        }
    )
    assert sample_payload(definition) == {}
    assert dry_run(definition, {}).conditions_passed is True
