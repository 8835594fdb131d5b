"""Sample workflows for ``wfconsole demo``: definition documents and trigger payloads.

Together they use every trigger type, action type and condition operator, so a fresh
console shows something of everything. URLs point at example.com: this is demo data.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEMO_WORKFLOWS: list[dict[str, Any]] = [
    {
        "name": "large-invoice-alert",
        "description": "Tell finance about invoices over 1000 EUR/USD.",
        "enabled": True, "category": "billing", "tags": ["finance", "invoices"],
        "priority": 7, "max_retries": 3, "retry_delay": 60, "timeout": 120,
        "triggers": [
            {"type": "manual"},
            {"type": "event", "event": "invoice.created"},
            {"type": "webhook", "path": "billing/invoice-created",
             "secret": "${INVOICE_HOOK_SECRET}"},
        ],
        "conditions": {"all": [
            {"path": "trigger.amount", "op": "gt", "value": 1000},
            {"any": [
                {"path": "trigger.currency", "op": "in", "value": ["EUR", "USD"]},
                {"not": {"path": "trigger.test", "op": "eq", "value": True}},
            ]},
        ]},
        "actions": [
            {"type": "slack", "channel": "#finance",
             "text": "Invoice {{ trigger.id }} for {{ trigger.customer }}:"
                     " {{ trigger.amount }} {{ trigger.currency }}"},
            {"type": "email", "to": ["cfo@example.com"], "cc": ["finance@example.com"],
             "subject": "Large invoice {{ trigger.id }}",
             "body": "{{ trigger.customer }} was invoiced {{ trigger.amount }}"
                     " {{ trigger.currency }}."},
        ],
    },
    {
        "name": "new-customer-onboarding",
        "description": "Open an onboarding project and a kick-off task for every paying customer.",
        "enabled": True, "category": "sales", "tags": ["customers", "onboarding"],
        "priority": 5, "max_retries": 3, "retry_delay": 120, "timeout": 300,
        "triggers": [{"type": "event", "event": "customer.created"}, {"type": "manual"}],
        "conditions": {"all": [
            {"path": "trigger.customer.email", "op": "exists"},
            {"path": "trigger.plan", "op": "ne", "value": "free"},
        ]},
        "actions": [
            {"type": "create_project", "name": "Onboard {{ trigger.customer.name }}",
             "owner": "customer-success"},
            {"type": "create_task", "title": "Kick-off call with {{ trigger.customer.name }}",
             "assignee": "{{ trigger.account_manager }}", "priority": "high"},
            {"type": "email", "to": ["{{ trigger.customer.email }}"],
             "subject": "Welcome aboard, {{ trigger.customer.name }}",
             "body": "Your {{ trigger.plan }} plan is ready."},
            {"type": "slack", "channel": "#sales",
             "text": "New {{ trigger.plan }} customer: {{ trigger.customer.name }}"},
        ],
    },
    {
        "name": "nightly-report",
        "description": "Build the nightly operations report and send it to ops.",
        "enabled": True, "category": "reporting", "tags": ["reports"],
        "priority": 3, "max_retries": 2, "retry_delay": 300, "timeout": 600,
        "triggers": [{"type": "schedule", "cron": "0 2 * * *", "timezone": "Europe/Berlin"}],
        "conditions": None,
        "actions": [
            {"type": "webhook", "method": "POST",
             "url": "https://reports.example.com/api/nightly",
             "headers": {"Authorization": "Bearer ${REPORTS_API_TOKEN}"},
             "body": {"execution": "{{ execution.id }}"}, "timeout": 60},
            {"type": "email", "to": ["ops@example.com"], "subject": "Nightly report",
             "body": "Report for {{ execution.id }} is ready."},
            {"type": "teams", "title": "Nightly report", "text": "The nightly report is out.",
             "continue_on_error": True},
        ],
    },
    {
        "name": "failed-payment-escalation",
        "description": "Page the on-call and re-issue the invoice when a payment fails twice.",
        "enabled": True, "category": "billing", "tags": ["finance", "payments"],
        "priority": 9, "max_retries": 3, "retry_delay": 60, "timeout": 120,
        "triggers": [
            {"type": "event", "event": "payment.failed"},
            {"type": "webhook", "path": "stripe/payment-failed",
             "secret": "${STRIPE_WEBHOOK_SECRET}"},
        ],
        "conditions": {"all": [
            {"path": "trigger.attempt", "op": "gte", "value": 2},
            {"path": "trigger.amount", "op": "lt", "value": 100000},
            {"path": "trigger.tier", "op": "not_in", "value": ["internal", "test"]},
        ]},
        "actions": [
            {"type": "sms", "to": "+15550100",
             "body": "Payment {{ trigger.payment_id }} failed {{ trigger.attempt }} times"},
            {"type": "create_invoice", "customer": "{{ trigger.customer }}",
             "amount": "{{ trigger.amount }}", "currency": "EUR",
             "description": "Re-issued after failed payment {{ trigger.payment_id }}"},
            {"type": "create_task", "title": "Call {{ trigger.customer }} about payment",
             "assignee": "collections", "due_date": "{{ trigger.due_date }}"},
        ],
    },
    {
        "name": "support-ticket-triage",
        "description": "Escalate urgent and outage tickets to the support channels.",
        "enabled": True, "category": "support", "tags": ["support", "tickets"],
        "priority": 8, "max_retries": 3, "retry_delay": 30, "timeout": 60,
        "triggers": [
            {"type": "webhook", "path": "helpdesk/ticket", "secret": "${HELPDESK_HOOK_SECRET}"},
            {"type": "event", "event": "ticket.created"},
        ],
        "conditions": {"any": [
            {"path": "trigger.subject", "op": "contains", "value": "outage"},
            {"path": "trigger.priority", "op": "eq", "value": "urgent"},
            {"path": "trigger.sla_minutes", "op": "lte", "value": 30},
        ]},
        "actions": [
            {"type": "create_task",
             "title": "Ticket {{ trigger.ticket_id }}: {{ trigger.subject }}",
             "assignee": "support-l2", "priority": "{{ trigger.priority }}"},
            {"type": "slack", "channel": "#support-escalations",
             "text": "Urgent ticket {{ trigger.ticket_id }}: {{ trigger.subject }}"},
            {"type": "teams", "title": "Support escalation",
             "text": "Ticket {{ trigger.ticket_id }} needs attention",
             "continue_on_error": True},
        ],
    },
    {
        "name": "deploy-notify",
        "description": "Announce successful deploys and record them on the status page.",
        "enabled": True, "category": "engineering", "tags": ["deploys", "ci"],
        "priority": 4, "max_retries": 2, "retry_delay": 30, "timeout": 60,
        "triggers": [
            {"type": "webhook", "path": "ci/deploy", "secret": "${CI_HOOK_SECRET}"},
            {"type": "manual"},
        ],
        "conditions": {"all": [
            {"path": "trigger.status", "op": "eq", "value": "success"},
            {"path": "trigger.environment", "op": "in", "value": ["production", "staging"]},
        ]},
        "actions": [
            {"type": "slack", "channel": "#deploys",
             "text": "{{ trigger.service }} {{ trigger.version }} is live on"
                     " {{ trigger.environment }}"},
            {"type": "webhook", "method": "POST", "url": "https://status.example.com/api/deploys",
             "body": {"service": "{{ trigger.service }}", "version": "{{ trigger.version }}"}},
        ],
    },
    {
        "name": "monthly-retainer-invoicing",
        "description": "Invoice retainer customers on the first of the month (paused).",
        "enabled": False, "category": "billing", "tags": ["finance", "invoices"],
        "priority": 5, "max_retries": 3, "retry_delay": 600, "timeout": 300,
        "triggers": [{"type": "schedule", "cron": "0 6 1 * *", "timezone": "America/New_York"}],
        "conditions": None,
        "actions": [
            {"type": "create_invoice", "customer": "Globex Corporation", "amount": 4500.0,
             "currency": "USD", "description": "Monthly retainer"},
            {"type": "email", "to": ["billing@example.com"], "subject": "Retainer invoiced",
             "body": "Globex Corporation was invoiced 4500 USD."},
        ],
    },
]  # fmt: skip

_CUSTOMERS = (
    "Acme GmbH", "Globex Corporation", "Initech", "Umbrella plc", "Stark Industries",
    "Wayne Enterprises", "Hooli", "Soylent Ltd", "Tyrell Corp", "Cyberdyne Systems",
)  # fmt: skip
_SERVICES = ("api", "billing", "web", "worker", "search", "auth")


def _invoice(rng: random.Random) -> dict[str, Any]:
    return {
        "id": f"INV-{rng.randint(10000, 99999)}",
        "customer": rng.choice(_CUSTOMERS),
        "amount": round(rng.choice((rng.uniform(50, 1000), rng.uniform(1000, 25000))), 2),
        "currency": rng.choice(("EUR", "EUR", "USD", "GBP")),
        "test": rng.random() < 0.1,
    }


def _customer(rng: random.Random) -> dict[str, Any]:
    name = rng.choice(_CUSTOMERS)
    customer: dict[str, Any] = {"name": name}
    if rng.random() < 0.9:
        customer["email"] = f"admin@{name.split()[0].lower()}.example.com"
    return {
        "customer": customer,
        "plan": rng.choice(("free", "team", "team", "business", "enterprise")),
        "account_manager": rng.choice(("maria", "jonas", "priya", "sam")),
    }


def _nightly(rng: random.Random) -> dict[str, Any]:
    return {"scheduled_for": f"2026-11-{rng.randint(18, 25):02d}T01:00:00Z"}


def _payment(rng: random.Random) -> dict[str, Any]:
    return {
        "payment_id": f"pi_{rng.getrandbits(48):012x}",
        "customer": rng.choice(_CUSTOMERS),
        "amount": round(rng.uniform(20, 120000), 2),
        "attempt": rng.randint(1, 4),
        "tier": rng.choice(("standard", "standard", "premium", "internal")),
        "due_date": f"2026-12-{rng.randint(1, 28):02d}",
    }


def _ticket(rng: random.Random) -> dict[str, Any]:
    subject = rng.choice((
        "Login page shows 500", "Partial outage in EU region", "Invoice PDF is blank",
        "API outage since 09:40", "Cannot reset password", "Export takes forever",
    ))  # fmt: skip
    return {
        "ticket_id": f"T-{rng.randint(1000, 9999)}",
        "subject": subject,
        "priority": rng.choice(("low", "normal", "normal", "high", "urgent")),
        "sla_minutes": rng.choice((15, 30, 60, 240, 1440)),
    }


def _deploy(rng: random.Random) -> dict[str, Any]:
    return {
        "service": rng.choice(_SERVICES),
        "version": f"v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
        "environment": rng.choice(("production", "staging", "staging", "preview")),
        "status": rng.choice(("success", "success", "success", "failure")),
    }


def _retainer(rng: random.Random) -> dict[str, Any]:
    return {"scheduled_for": f"2026-11-01T{rng.choice(('10', '11'))}:00:00Z"}


# A random, plausible trigger payload for each sample workflow (by name).
PAYLOAD_SAMPLERS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "large-invoice-alert": _invoice,
    "new-customer-onboarding": _customer,
    "nightly-report": _nightly,
    "failed-payment-escalation": _payment,
    "support-ticket-triage": _ticket,
    "deploy-notify": _deploy,
    "monthly-retainer-invoicing": _retainer,
}

# The disabled sample was paused this many days ago: it has no newer executions.
PAUSED_DAYS = 3

# How often each workflow runs relative to the others.
RUN_WEIGHTS: dict[str, float] = {
    "large-invoice-alert": 22,
    "new-customer-onboarding": 12,
    "nightly-report": 3,
    "failed-payment-escalation": 10,
    "support-ticket-triage": 30,
    "deploy-notify": 20,
    "monthly-retainer-invoicing": 3,
}


def demo_documents() -> list[dict[str, Any]]:
    """Fresh copies of the sample definition documents."""
    import copy

    return copy.deepcopy(DEMO_WORKFLOWS)


@dataclass(frozen=True)
class ActionProfile:
    """How one sample action behaves in the demo history."""

    summary: str  # the log line when it succeeds
    result: dict[str, Any]  # the step's result
    millis: tuple[float, float]  # duration range
    errors: tuple[tuple[str, bool], ...]  # (error, transient: retried before failing)


_TIMEOUT = ("connection timed out after 30.0s", True)
_TEMPLATE = re.compile(r"\{\{\s*(trigger\.[A-Za-z0-9_.]+)\s*\}\}")


def _concrete(address: str) -> str:
    return "admin@hooli.example.com" if "{{" in address else address


def action_profile(action: dict[str, Any]) -> ActionProfile:
    """Success text, result, duration range and failure modes of a sample action."""
    kind = action["type"]
    if kind == "slack":
        channel = action.get("channel", "#general")
        profile = ActionProfile(
            f"posted to {channel}",
            {"ok": True, "channel": channel},
            (120, 650),
            (("Slack API error: channel_not_found", False), _TIMEOUT),
        )
    elif kind == "email":
        to = _concrete(action["to"][0])
        profile = ActionProfile(
            f"sent to {to}",
            {"accepted": [to]},
            (180, 1400),
            (
                (f"SMTP 550 mailbox unavailable for {to}", False),
                ("SMTP 421 service not available, closing channel", True),
            ),
        )
    elif kind == "sms":
        profile = ActionProfile(
            f"sent to {action['to']}",
            {"sid": "SM5f0c1b2e9d8a4c7b"},
            (250, 900),
            (
                ("Twilio 21610: recipient unsubscribed", False),
                ("Twilio 20429: too many requests", True),
            ),
        )
    elif kind == "teams":
        profile = ActionProfile(
            "card posted",
            {"status": 200},
            (200, 900),
            (("HTTP 429 from Teams webhook: rate limited", True), _TIMEOUT),
        )
    elif kind == "webhook":
        url = action["url"]
        profile = ActionProfile(
            f"{action.get('method', 'POST')} {url} -> 200",
            {"status": 200},
            (80, 2500),
            ((f"HTTP 503 from {url} after 3 attempts", True), _TIMEOUT),
        )
    else:
        record = kind.removeprefix("create_")
        profile = ActionProfile(
            f"{record} created",
            {f"{record}_id": 1042},
            (5, 40),
            ((f"{record} service returned HTTP 409: duplicate {record}", False),),
        )
    paths = _TEMPLATE.findall(str(action))
    if paths:
        missing = (f"template path {paths[0]} missing", False)
        profile = ActionProfile(
            profile.summary, profile.result, profile.millis, (*profile.errors, missing)
        )
    return profile
