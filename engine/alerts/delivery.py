"""Notifying incidents by email, Slack and Teams, through the actions workflows use.

An open incident is sent once. It is sent again only when ``alerts.repeat_minutes`` is set
and that long has passed while it stayed open; a new incident of the same rule and subject
waits until ``alerts.cooldown_minutes`` after the last notification (a flapping condition
is recorded every time, sent once). Several workers may run this at once: each incident
is claimed with a conditional UPDATE on ``notify_count`` before anything is sent.

The runners are called directly, not through ``run_action``: alert text holds workflow
names and error messages, which must not be read as ``{{ templates }}``. A failed
delivery is recorded on the incident and logged; it never raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.actions.email_action import run_email
from engine.actions.errors import ActionError
from engine.actions.slack_action import run_slack
from engine.actions.step_context import ActionOutput, StepContext
from engine.actions.teams_action import run_teams
from engine.alerts.incidents import AlertRow, get_alert, open_incidents
from engine.alerts.models import AlertEvent
from engine.config import Settings
from engine.db import Database
from engine.models import table_of
from engine.outbound.gate import ungated
from engine.security.crypto import Vault
from engine.security.env_references import MissingSecret, resolve
from engine.services.metrics import utc

log = logging.getLogger(__name__)
_events = table_of(AlertEvent)
SEVERITIES = ("low", "medium", "high", "critical")
DELIVERY_BUDGET = 30.0  # seconds one channel may take, whatever its own timeout says
Runner = Callable[[dict[str, Any], StepContext], ActionOutput]


def alert_title(row: AlertRow) -> str:
    """``[HIGH] failure_rate · invoice-alert``."""
    return f"[{row.severity.upper()}] {row.rule} · {row.subject}"


def alert_text(row: AlertRow) -> str:
    """The plain-text body every channel sends."""
    return (
        f"{alert_title(row)}\n{row.message}\n"
        f"opened {row.opened_at:%Y-%m-%d %H:%M:%S} UTC · incident #{row.id} "
        "(wfconsole alerts list --open)"
    )


def _slack_escape(text: str) -> str:
    # Slack reads <!channel>, <@U…> and <url|label> in text: data must not ping anyone.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _configured(value: str, setting: str, vault: Vault | None) -> str:
    """A configured value with its ``${ENV}`` reference or ``enc:v1:`` value resolved.

    Configuration is the operator's own text, never data: alert text is not a template.
    """
    try:
        return resolve(value.strip(), vault=vault).strip()
    except MissingSecret as exc:
        raise ActionError(f"{setting}: {exc}", transient=False) from None


def has_channels(settings: Settings) -> bool:
    """Whether any channel is configured (its references are resolved only to send)."""
    alerts = settings.alerts
    return bool(
        alerts.email_to
        or alerts.slack_webhook_url.get_secret_value().strip()
        or alerts.slack_channel
        or alerts.teams_webhook_url.get_secret_value().strip()
        or alerts.teams
    )


def channels(
    settings: Settings, row: AlertRow, vault: Vault | None = None
) -> list[tuple[str, Runner, dict[str, Any]]]:
    """The configured channels with the runner and fields that send ``row`` to each.

    Raises ActionError naming the setting when a referenced value is missing.
    """
    alerts = settings.alerts
    found: list[tuple[str, Runner, dict[str, Any]]] = []
    if alerts.email_to:
        subject = f"wfconsole {alert_title(row)}"
        to = [_configured(a, "alerts.email_to", vault) for a in alerts.email_to]
        fields: dict[str, Any] = {"to": to, "subject": subject, "body": alert_text(row)}
        found.append(("email", run_email, fields))
    slack_url = _configured(
        alerts.slack_webhook_url.get_secret_value(), "alerts.slack_webhook_url", vault
    )
    if slack_url or alerts.slack_channel:
        fields = {"text": _slack_escape(alert_text(row)), "channel": alerts.slack_channel or None,
                  "webhook_url": slack_url or None}  # fmt: skip
        found.append(("slack", run_slack, fields))
    teams_url = _configured(
        alerts.teams_webhook_url.get_secret_value(), "alerts.teams_webhook_url", vault
    )
    if teams_url or alerts.teams:
        fields = {"title": alert_title(row), "text": alert_text(row).partition("\n")[2],
                  "webhook_url": teams_url or None}  # fmt: skip
        found.append(("teams", run_teams, fields))
    return found


def deliver(db: Database, settings: Settings, row: AlertRow) -> list[dict[str, Any]]:
    """Send ``row`` to every configured channel; one result per channel, never raises."""
    results: list[dict[str, Any]] = []
    try:
        configured = channels(settings, row, db.vault)
    except ActionError as exc:
        log.warning("alert #%s: not delivered: %s", row.id, exc)
        return [{"channel": "config", "ok": False, "error": str(exc), "transient": False}]
    for index, (name, runner, fields) in enumerate(configured):
        ctx = StepContext(
            execution_id=f"alert-{row.id}-{row.notify_count}",
            step_index=index,
            deadline=time.monotonic() + DELIVERY_BUDGET,
            settings=settings,
            db=db,
            # Configured URLs are credentials: masked wherever a peer echoes them.
            secrets=tuple(u for u in (fields.get("webhook_url"),) if u),
        )
        try:
            with ungated():  # a held destination holds workflow steps, not alerts
                output = runner(fields, ctx)
        except ActionError as exc:
            results.append({"channel": name, "ok": False, "error": str(exc),
                            "transient": exc.transient})  # fmt: skip
            log.warning("alert #%s: %s delivery failed: %s", row.id, name, exc)
            continue
        except Exception as exc:  # a bug in a runner must not stop the other channels
            results.append({"channel": name, "ok": False, "error": type(exc).__name__})
            log.exception("alert #%s: %s delivery failed unexpectedly", row.id, name)
            continue
        results.append({"channel": name, "ok": True, "summary": output.summary})
    return results


def _last_notified(db: Database, rule: str, subject: str, other_than: int) -> datetime | None:
    query = sa.select(sa.func.max(_events.c.notified_at)).where(
        _events.c.rule == rule, _events.c.subject == subject, _events.c.id != other_than
    )
    with db.engine.connect() as conn:
        value = conn.execute(query).scalar()
    if value is None:
        return None
    if isinstance(value, str):  # max() over SQLite text skips the column type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def due(db: Database, settings: Settings, row: AlertRow, now: datetime) -> bool:
    """Whether ``row`` should be sent at ``now`` (severity, once, repeat, cool-down)."""
    alerts = settings.alerts
    if SEVERITIES.index(row.severity) < SEVERITIES.index(alerts.min_severity):
        return False
    if row.notified_at is not None:
        repeat = alerts.repeat_minutes
        return repeat > 0 and now - row.notified_at >= timedelta(minutes=repeat)
    last = _last_notified(db, row.rule, row.subject, row.id)
    return last is None or now - last >= timedelta(minutes=alerts.cooldown_minutes)


def _claim(db: Database, row: AlertRow, now: datetime) -> bool:
    with db.engine.begin() as conn:
        result = conn.execute(
            sa.update(_events)
            .where(
                _events.c.id == row.id,
                _events.c.notify_count == row.notify_count,
                _events.c.resolved_at.is_(None),
            )
            .values(notified_at=now, notify_count=row.notify_count + 1)
        )
    return result.rowcount == 1


def notify_alerts(db: Database, settings: Settings, *, now: datetime) -> list[AlertRow]:
    """Send every open incident that is due; returns them with their delivery results."""
    now = utc(now)
    if not settings.alerts.enabled:
        return []
    sent: list[AlertRow] = []
    for row in open_incidents(db):
        if not has_channels(settings) or not due(db, settings, row, now):
            continue
        if not _claim(db, row, now):
            continue  # another worker is sending it
        results = deliver(db, settings, row)
        with db.engine.begin() as conn:
            conn.execute(
                sa.update(_events).where(_events.c.id == row.id).values(deliveries=results)
            )
        updated = get_alert(db, row.id)
        if updated is not None:
            sent.append(updated)
    return sent
