"""Every action type's case for the contract suite (see tests/actions/contract.py)."""

from __future__ import annotations

from tests.actions.contract import ActionCase
from tests.actions.email_case import EmailCase
from tests.actions.record_cases import CreateInvoiceCase, CreateProjectCase, CreateTaskCase
from tests.actions.slack_case import SlackCase
from tests.actions.sms_case import SmsCase
from tests.actions.teams_case import TeamsCase
from tests.actions.webhook_case import WebhookCase

# One instance per action type that has a runner; add yours here.
CASES: list[ActionCase] = [
    WebhookCase(),
    EmailCase(),
    SmsCase(),
    SlackCase(),
    TeamsCase(),
    CreateTaskCase(),
    CreateProjectCase(),
    CreateInvoiceCase(),
]
