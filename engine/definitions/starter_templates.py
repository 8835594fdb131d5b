"""Ready-to-edit workflow definitions, one per action type, for "new workflow".

Each template is a complete, valid definition document (tests hold them to
``validate_definition``); it starts disabled so nothing fires before the operator has
filled in real addresses and enabled it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from engine.definitions.schema import ACTION_TYPES


@dataclass(frozen=True)
class WorkflowTemplate:
    """One starting point: the action type it shows off and its definition document."""

    action_type: str
    title: str
    summary: str
    document: dict[str, Any]


def _document(name: str, description: str, action: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "enabled": False,
        "category": None,
        "tags": [],
        "priority": 5,
        "max_retries": 3,
        "retry_delay": 60,
        "timeout": 300,
        "triggers": [{"type": "manual"}, {"type": "event", "event": "example.created"}],
        "conditions": None,
        "actions": [action],
    }


_TEMPLATES = (
    WorkflowTemplate(
        "webhook", "Webhook", "POST the trigger data to an HTTP endpoint",
        _document("new-webhook-workflow", "Send the trigger data to another system", {
            "type": "webhook", "method": "POST", "url": "https://example.com/hooks/wfconsole",
            "headers": {"Content-Type": "application/json"},
            "body": {"id": "{{ trigger.id }}", "data": "{{ trigger }}"},
        }),
    ),
    WorkflowTemplate(
        "email", "Email", "Send an email over SMTP",
        _document("new-email-workflow", "Email someone about the trigger", {
            "type": "email", "to": ["someone@example.com"],
            "subject": "Update on {{ trigger.id }}", "body": "Something happened: {{ trigger.id }}",
        }),
    ),
    WorkflowTemplate(
        "sms", "SMS", "Text a phone number through Twilio",
        _document("new-sms-workflow", "Text someone about the trigger", {
            "type": "sms", "to": "+15550100", "body": "Update on {{ trigger.id }}",
        }),
    ),
    WorkflowTemplate(
        "slack", "Slack", "Post a message to a Slack channel",
        _document("new-slack-workflow", "Tell a Slack channel about the trigger", {
            "type": "slack", "channel": "#general", "text": "Update on {{ trigger.id }}",
        }),
    ),
    WorkflowTemplate(
        "teams", "Microsoft Teams", "Post a card to a Teams channel",
        _document("new-teams-workflow", "Tell a Teams channel about the trigger", {
            "type": "teams", "title": "Update", "text": "Update on {{ trigger.id }}",
        }),
    ),
    WorkflowTemplate(
        "create_task", "Create task", "Create a task record",
        _document("new-task-workflow", "Open a task for the trigger", {
            "type": "create_task", "title": "Follow up on {{ trigger.id }}",
            "description": "Created by wfconsole", "assignee": "operations",
        }),
    ),
    WorkflowTemplate(
        "create_project", "Create project", "Create a project record",
        _document("new-project-workflow", "Start a project for the trigger", {
            "type": "create_project", "name": "Project for {{ trigger.customer }}",
            "description": "Created by wfconsole",
        }),
    ),
    WorkflowTemplate(
        "create_invoice", "Create invoice", "Create an invoice record",
        _document("new-invoice-workflow", "Invoice the customer named in the trigger", {
            "type": "create_invoice", "customer": "{{ trigger.customer }}",
            "amount": "{{ trigger.amount }}", "currency": "USD",
        }),
    ),
)  # fmt: skip
assert {t.action_type for t in _TEMPLATES} == ACTION_TYPES, "one template per action type"


def workflow_templates() -> list[WorkflowTemplate]:
    """Every template, in picker order; documents are copies the caller may change."""
    return [
        WorkflowTemplate(t.action_type, t.title, t.summary, copy.deepcopy(t.document))
        for t in _TEMPLATES
    ]


def template_document(action_type: str) -> dict[str, Any]:
    """A fresh copy of the template document for ``action_type``; KeyError when unknown."""
    for template in _TEMPLATES:
        if template.action_type == action_type:
            return copy.deepcopy(template.document)
    raise KeyError(action_type)
