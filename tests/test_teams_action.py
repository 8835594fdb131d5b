"""The teams action with httpx against a local HTTP server standing in for a Teams webhook."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.actions.errors import ActionError
from engine.actions.step_context import ActionOutput, StepContext
from engine.actions.teams_action import run_teams
from engine.config import Settings
from engine.db import Database
from engine.security import outbound
from tests import http_sink as sink_fixtures
from tests.http_sink import HttpSink, Reply

http_sink = sink_fixtures.http_sink
HOOK_PATH = "/webhookb2/team@tenant/IncomingWebhook/hooksecret/owner"


@pytest.fixture(autouse=True)
def _fresh_client_cache() -> Iterator[None]:
    yield
    outbound.close_clients()


def post(
    db: Database,
    fields: dict[str, Any],
    teams: dict[str, Any] | None = None,
    *,
    security: dict[str, Any] | None = None,
    budget: float = 10.0,
) -> ActionOutput:
    settings = Settings.model_validate(
        {
            "teams": teams or {},
            "security": {"allow_private_targets": True} if security is None else security,
        }
    )
    ctx = StepContext("exec-1", 3, time.monotonic() + budget, settings, db)
    return run_teams({"text": "hello", **fields}, ctx)


def failure(db: Database, fields: dict[str, Any], **kw: Any) -> ActionError:
    with pytest.raises(ActionError) as caught:
        post(db, fields, **kw)
    return caught.value


def test_message_card_is_posted_and_answer_shown(sqlite_db: Database, http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=200, body=b"1"))
    fields = {
        "title": "Invoice 7",
        "text": "1200 EUR",
        "theme_color": "#FF0000",
        "webhook_url": http_sink.url(HOOK_PATH),
    }
    out = post(sqlite_db, fields)
    [seen] = http_sink.requests
    assert seen.path == HOOK_PATH
    assert json.loads(seen.body) == {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": "Invoice 7",
        "title": "Invoice 7",
        "text": "1200 EUR",
        "themeColor": "FF0000",
    }
    assert out.data == {"status_code": 200, "body": "1"}
    assert out.summary == "card posted to Teams (HTTP 200)"


def test_adaptive_card_when_asked(sqlite_db: Database, http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=202, body=b""))
    fields = {"title": "Deploy", "card": "adaptive", "webhook_url": http_sink.url(HOOK_PATH)}
    out = post(sqlite_db, fields)
    payload = json.loads(http_sink.requests[0].body)
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [block["text"] for block in attachment["content"]["body"]]
    assert texts == ["Deploy", "hello"]
    assert out.data["status_code"] == 202


def test_configured_webhook_from_environment_variable(
    sqlite_db: Database, http_sink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TEAMS_HOOK", http_sink.url(HOOK_PATH))
    post(sqlite_db, {}, {"webhook_url": "${OPS_TEAMS_HOOK}"})
    assert [r.path for r in http_sink.requests] == [HOOK_PATH]


def test_no_webhook_configured_fails_permanently(sqlite_db: Database) -> None:
    error = failure(sqlite_db, {})
    assert not error.transient
    assert "teams.webhook_url" in error.message


@pytest.mark.parametrize(
    ("reply", "transient"),
    [
        (Reply(status=429, headers={"Retry-After": "5"}), True),
        (Reply(status=502, body=b"bad gateway"), True),
        (Reply(status=408), True),
        (Reply(status=400, body=b"Summary or Text is required."), False),
        (Reply(status=404, body=b"not found"), False),
    ],
)
def test_http_failures_are_classified(
    sqlite_db: Database, http_sink: HttpSink, reply: Reply, transient: bool
) -> None:
    http_sink.reply(reply)
    error = failure(sqlite_db, {"webhook_url": http_sink.url(HOOK_PATH)})
    assert error.transient is transient
    assert error.message.startswith(f"Teams webhook answered HTTP {reply.status}")
    assert error.data["status_code"] == reply.status
    assert len(http_sink.requests) == 1


def test_rate_limit_carries_retry_after(sqlite_db: Database, http_sink: HttpSink) -> None:
    http_sink.reply(Reply(status=429, headers={"Retry-After": "5"}))
    error = failure(sqlite_db, {"webhook_url": http_sink.url(HOOK_PATH)})
    assert error.retry_after == 5


@pytest.mark.parametrize(
    ("body", "transient"),
    [
        (b"Webhook message delivery failed with error: Microsoft Teams endpoint returned "
         b"HTTP error 429 with ContextId tcid=0", True),
        (b"Webhook message delivery failed with error: Microsoft Teams endpoint returned "
         b"HTTP error 403 with ContextId tcid=0", False),
    ],
)  # fmt: skip
def test_delivery_failure_inside_a_200_is_a_failure(
    sqlite_db: Database, http_sink: HttpSink, body: bytes, transient: bool
) -> None:
    http_sink.reply(Reply(status=200, body=body))
    error = failure(sqlite_db, {"webhook_url": http_sink.url(HOOK_PATH)})
    assert error.transient is transient
    assert error.data["status_code"] == 200


def test_hung_webhook_fails_transiently_at_the_deadline(
    sqlite_db: Database, http_sink: HttpSink
) -> None:
    http_sink.reply(Reply(delay=30))
    started = time.monotonic()
    error = failure(sqlite_db, {"webhook_url": http_sink.url(HOOK_PATH)}, budget=1.0)
    assert error.transient
    assert time.monotonic() - started < 1.75


def test_loopback_is_refused_unless_allowed(sqlite_db: Database, http_sink: HttpSink) -> None:
    error = failure(sqlite_db, {"webhook_url": http_sink.url(HOOK_PATH)}, security={})
    assert not error.transient
    assert "loopback address" in error.message
    assert http_sink.requests == []


def test_webhook_url_is_never_shown(
    sqlite_db: Database, http_sink: HttpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http_sink.reply(Reply(status=200, body=b"1"), Reply(status=500))
    out = post(sqlite_db, {"webhook_url": http_sink.url(HOOK_PATH)})
    error = failure(sqlite_db, {"webhook_url": http_sink.url(HOOK_PATH)})
    shown = [json.dumps(out.data), out.summary, repr(error), json.dumps(error.data)]
    shown += [record.getMessage() for record in caplog.records]
    assert not [text for text in shown if "hooksecret" in text]


def test_bad_webhook_url_is_refused_without_quoting_it(sqlite_db: Database) -> None:
    error = failure(sqlite_db, {"webhook_url": "ftp://example.com/hooksecret"})
    assert not error.transient
    assert error.message == "Teams: the webhook URL is not an http(s) URL"
