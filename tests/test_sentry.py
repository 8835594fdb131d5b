"""Sentry reporting: off without a DSN; with one, an opened alert reaches a local fake
Sentry (an HTTP server on loopback) as an envelope carrying the alert as a message."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from engine.alerts.check import check_alerts
from engine.config import Settings
from engine.db import Database
from engine.error_reporting import init_sentry, sentry_active, shutdown_sentry
from tests import http_sink as sink_fixtures
from tests.alert_seed import NOW
from tests.http_sink import HttpSink, RecordedRequest

http_sink = sink_fixtures.http_sink


@pytest.fixture(autouse=True)
def _sentry_off_afterwards() -> Iterator[None]:
    yield
    shutdown_sentry()


def sentry_settings(dsn: str) -> Settings:
    return Settings.model_validate({
        "sentry": {"dsn": dsn, "environment": "test"},
        "alerts": {"rules": ["no_worker"], "no_worker": "always"},
    })  # fmt: skip


def envelope_items(request: RecordedRequest) -> list[dict[str, Any]]:
    """The JSON items of a Sentry envelope (newline-separated headers and payloads)."""
    body = request.body
    encoding = request.headers.get("content-encoding", "")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    items = []
    for line in body.splitlines():
        try:
            items.append(json.loads(line))
        except ValueError:
            continue
    return items


def test_without_a_dsn_sentry_stays_off() -> None:
    assert init_sentry(Settings()) is False
    assert not sentry_active()


def test_an_opened_alert_is_sent_to_sentry_as_a_message(
    sqlite_db: Database, http_sink: HttpSink
) -> None:
    dsn = f"http://publickey@127.0.0.1:{http_sink.port}/1"
    settings = sentry_settings(dsn)
    assert init_sentry(settings) is True
    assert init_sentry(settings) is True  # a second call keeps the same client
    check_alerts(sqlite_db, settings, now=NOW)
    shutdown_sentry()  # flushes the queued envelope
    (request,) = [r for r in http_sink.requests if r.path.startswith("/api/1/envelope/")]
    assert "sentry_key=publickey" in request.headers.get("x-sentry-auth", "")
    events = [item for item in envelope_items(request) if "message" in item or "logentry" in item]
    (event,) = events
    text = event.get("message") or event["logentry"]["message"]
    assert text.startswith("alert no_worker on workers: no worker process alive")
    assert (event["level"], event["environment"]) == ("fatal", "test")
    assert event["tags"]["alert.rule"] == "no_worker"
