"""The slack action against a fake Slack (Web API and incoming webhook) on loopback."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.actions.errors import ActionError
from engine.actions.secret_references import render_fields
from engine.actions.slack_action import run_slack
from engine.actions.step_context import ActionOutput, StepContext
from engine.config import Settings
from engine.db import Database
from engine.security import outbound
from tests import fake_slack as fake_slack_fixtures
from tests.fake_slack import BOT_TOKEN, WEBHOOK_PATH, FakeSlack

fake_slack = fake_slack_fixtures.fake_slack


@pytest.fixture(autouse=True)
def _fresh_client_cache() -> Iterator[None]:
    yield
    outbound.close_clients()


def post(
    db: Database,
    fields: dict[str, Any],
    slack: dict[str, Any],
    *,
    security: dict[str, Any] | None = None,
    budget: float = 10.0,
) -> ActionOutput:
    settings = Settings.model_validate(
        {
            "slack": slack,
            "security": {"allow_private_targets": True} if security is None else security,
        }
    )
    ctx = StepContext("exec-1", 2, time.monotonic() + budget, settings, db)
    # As the executor does: templates filled, references resolved from the definition.
    return run_slack(render_fields("slack", fields, {}, vault=db.vault), ctx)


def api(fake: FakeSlack, token: str = BOT_TOKEN) -> dict[str, Any]:
    return {"bot_token": token, "api_base_url": fake.api_base_url}


def failure(db: Database, fields: dict[str, Any], slack: dict[str, Any], **kw: Any) -> ActionError:
    with pytest.raises(ActionError) as caught:
        post(db, fields, slack, **kw)
    return caught.value


# --- Web API (bot token) ----------------------------------------------------------------


def test_bot_token_posts_text_and_returns_channel_and_ts(
    sqlite_db: Database, fake_slack: FakeSlack
) -> None:
    out = post(sqlite_db, {"channel": "#finance", "text": "Invoice 7: 1200"}, api(fake_slack))
    [posted] = fake_slack.posted
    assert (posted.via, posted.channel, posted.payload["text"]) == (
        "api",
        "C0FINANCE",
        "Invoice 7: 1200",
    )
    assert out.data == {"via": "api", "channel": "C0FINANCE", "ts": "1764000000.000001"}
    assert out.summary == "posted to #finance (ts 1764000000.000001)"


def test_blocks_are_sent_as_given(sqlite_db: Database, fake_slack: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*big* invoice"}}]
    post(sqlite_db, {"channel": "#general", "text": "fallback", "blocks": blocks}, api(fake_slack))
    assert fake_slack.posted[0].payload["blocks"] == blocks


def test_rate_limited_is_transient_and_carries_retry_after(
    sqlite_db: Database, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limited_for, fake_slack.retry_after = 1, 7
    error = failure(sqlite_db, {"channel": "#general", "text": "hi"}, api(fake_slack))
    assert error.transient
    assert error.retry_after == 7
    assert error.data == {"status_code": 429, "error": "ratelimited", "retry_after": 7}
    assert fake_slack.calls == 1  # no hidden retry inside the step: the executor waits


def test_server_error_is_transient(sqlite_db: Database, fake_slack: FakeSlack) -> None:
    fake_slack.server_errors = 1
    error = failure(sqlite_db, {"channel": "#general", "text": "hi"}, api(fake_slack))
    assert error.transient
    assert error.data["status_code"] == 503


@pytest.mark.parametrize(
    ("fields", "token", "code"),
    [
        ({"channel": "#general", "text": "hi"}, "xoxb-wrong", "invalid_auth"),
        ({"channel": "#nowhere", "text": "hi"}, BOT_TOKEN, "channel_not_found"),
        ({"channel": "#finance", "text": "hi"}, BOT_TOKEN, "not_in_channel"),
    ],
)
def test_auth_and_channel_errors_are_permanent(
    sqlite_db: Database, fake_slack: FakeSlack, fields: dict[str, Any], token: str, code: str
) -> None:
    fake_slack.not_member.add("#finance")
    error = failure(sqlite_db, fields, api(fake_slack, token))
    assert not error.transient
    assert error.message == f"Slack API error: {code}"
    assert error.data["error"] == code


def test_loopback_api_is_refused_unless_allowed(sqlite_db: Database, fake_slack: FakeSlack) -> None:
    fields = {"channel": "#general", "text": "hi"}
    error = failure(sqlite_db, fields, api(fake_slack), security={})
    assert not error.transient
    assert "refused outbound call to 127.0.0.1 (loopback address)" in error.message
    assert fake_slack.calls == 0

    post(sqlite_db, fields, api(fake_slack), security={"allowed_hosts": ["127.0.0.1"]})
    assert len(fake_slack.posted) == 1


def test_hung_api_fails_transiently_at_the_workflow_deadline(
    sqlite_db: Database, fake_slack: FakeSlack
) -> None:
    fake_slack.delay = 30
    started = time.monotonic()
    error = failure(sqlite_db, {"channel": "#general", "text": "hi"}, api(fake_slack), budget=1.0)
    assert error.transient
    assert "timed out" in error.message
    assert time.monotonic() - started < 1.75


def test_bot_token_needs_a_channel(sqlite_db: Database, fake_slack: FakeSlack) -> None:
    error = failure(sqlite_db, {"text": "hi"}, api(fake_slack))
    assert not error.transient
    assert "'channel' is required" in error.message


def test_unconfigured_slack_fails_permanently(sqlite_db: Database) -> None:
    error = failure(sqlite_db, {"channel": "#general", "text": "hi"}, {})
    assert not error.transient
    assert error.message.startswith("Slack is not configured")


def test_the_bot_token_is_never_shown(
    sqlite_db: Database, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_slack.token = "xoxb-the-real-one"
    error = failure(sqlite_db, {"channel": "#general", "text": "hi"}, api(fake_slack))
    shown = [error.message, repr(error), str(error.data), *(r.getMessage() for r in caplog.records)]
    assert not [text for text in shown if BOT_TOKEN in text]


# --- incoming webhook -------------------------------------------------------------------


def test_action_webhook_url_wins_over_the_bot_token(
    sqlite_db: Database, fake_slack: FakeSlack
) -> None:
    fields = {"channel": "#general", "text": "hi", "webhook_url": fake_slack.webhook_url}
    out = post(sqlite_db, fields, api(fake_slack))
    [posted] = fake_slack.posted
    assert (posted.via, posted.payload) == ("webhook", {"text": "hi", "channel": "#general"})
    assert out.data == {"via": "webhook", "status_code": 200, "body": "ok"}


def test_configured_webhook_is_used_without_a_bot_token(
    sqlite_db: Database, fake_slack: FakeSlack
) -> None:
    post(sqlite_db, {"text": "hi"}, {"webhook_url": fake_slack.webhook_url})
    assert [p.via for p in fake_slack.posted] == ["webhook"]


def test_webhook_url_may_name_an_environment_variable(
    sqlite_db: Database, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINANCE_SLACK_HOOK", fake_slack.webhook_url)
    post(sqlite_db, {"text": "hi", "webhook_url": "${FINANCE_SLACK_HOOK}"}, {})
    assert len(fake_slack.posted) == 1


def test_missing_webhook_variable_fails_permanently(sqlite_db: Database) -> None:
    error = failure(sqlite_db, {"text": "hi", "webhook_url": "${NO_SUCH_HOOK}"}, {})
    assert not error.transient
    assert error.message == "webhook_url: environment variable NO_SUCH_HOOK is not set"


def test_unknown_webhook_fails_permanently_without_showing_the_url(
    sqlite_db: Database, fake_slack: FakeSlack
) -> None:
    url = fake_slack.webhook_url.replace(WEBHOOK_PATH, "/services/T000/B000/revokedsecret")
    error = failure(sqlite_db, {"text": "hi", "webhook_url": url}, {})
    assert not error.transient
    assert error.message == "Slack webhook answered HTTP 404: no_service"
    assert "revokedsecret" not in repr(error) + str(error.data)


def test_rate_limited_webhook_is_transient_with_retry_after(
    sqlite_db: Database, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limited_for, fake_slack.retry_after = 1, 3
    error = failure(sqlite_db, {"text": "hi"}, {"webhook_url": fake_slack.webhook_url})
    assert error.transient
    assert error.retry_after == 3


def test_webhook_url_stays_out_of_the_logs(
    sqlite_db: Database, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    post(sqlite_db, {"text": "hi"}, {"webhook_url": fake_slack.webhook_url})
    messages = [record.getMessage() for record in caplog.records]
    assert any("HTTP Request: POST http://127.0.0.1" in m for m in messages)
    assert not [m for m in messages if "fakewebhooksecret" in m]


def test_loopback_webhook_is_refused_unless_allowed(
    sqlite_db: Database, fake_slack: FakeSlack
) -> None:
    error = failure(sqlite_db, {"text": "hi"}, {"webhook_url": fake_slack.webhook_url}, security={})
    assert not error.transient
    assert "loopback address" in error.message
    assert fake_slack.calls == 0
