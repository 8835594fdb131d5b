"""Error signatures and the transient/permanent verdict: a table of real messages, and
hostile inputs that must cost bounded time and give bounded output."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.execution.error_signature import (
    MAX_SIGNATURE,
    classify_error,
    normalise_error,
    strip_step_prefix,
)

SIGNATURES = [
    ("", ""),
    (None, ""),
    ("worker lost", "worker lost"),
    # The executor's step prefix goes: the failing action type is a column of its own.
    ("step 2 (webhook): HTTP 503", "HTTP 503"),
    ("step 12 (create_task): boom", "boom"),
    # Status codes are kept, other numbers become '#'.
    ("HTTP 404 from https://erp.example.com/hook", "HTTP 404 from https://erp.example.com/hook"),
    ("SMTP 421 service not available", "SMTP 421 service not available"),
    ("webhook failed after 4 attempt(s): HTTP 502", "webhook failed after # attempt(s): HTTP 502"),
    ("timed out after 30.5 s", "timed out after # s"),
    ("Twilio 21610: recipient unsubscribed", "Twilio #: recipient unsubscribed"),
    # URLs keep scheme, host and path (ids normalised), never the query's values.
    (
        "POST https://api.example.com/v2/orders/12345?token=abc&n=9 failed",
        "POST https://api.example.com/v#/orders/#?… failed",
    ),
    ("GET http://10.1.2.3:8080/x refused", "GET http://<ip>/x refused"),
    # UUIDs, hex and mixed ids, timestamps, dates, addresses.
    ("execution 0190f3c2-aaaa-7bbb-8ccc-123456789abc lost", "execution <uuid> lost"),
    ("object 5f0c1b2e9d8a4c7b gone", "object <hex> gone"),
    ("pointer 0xDEADBEEF", "pointer <hex>"),
    ("message sid SM5f0c1b2e9d8a4c7b queued", "message sid <id> queued"),
    ("at 2024-05-01T12:00:00.123456+02:00 it broke", "at <time> it broke"),
    ("on 2024-05-01 at 23:59:59", "on <time> at <time>"),
    ("connect to 192.168.0.1:5432 failed", "connect to <ip> failed"),
    ("connect to [2001:db8::1]:443 failed", "connect to <ip> failed"),
    ("refused outbound call to localhost (::1) (loopback)", "refused outbound call to localhost"
     " (<ip>) (loopback)"),
    ("mailbox unavailable for cfo@example.com", "mailbox unavailable for <email>"),
    # Quoted values vary per run; apostrophes inside words are not quotes.
    ("missing value for 'trigger.amount': no key 'amount'", "missing value for '…': no key '…'"),
    ('field "customer_42" invalid', 'field "…" invalid'),
    ("can't reach 'x'", "can't reach '…'"),
    # Whitespace collapses; newlines of tracebacks too.
    ("  HTTP 500\n\n   from   upstream\t", "HTTP 500 from upstream"),
    # Markup and escape sequences stay as text (the console shows them literally).
    ("[@click=app.quit]x[/] \x1b[2J", "[@click=app.quit]x[/] \x1b[#J"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "signature"), SIGNATURES)
def test_normalise_error(message: str | None, signature: str) -> None:
    assert normalise_error(message) == signature


def test_messages_differing_only_in_ids_and_numbers_share_a_signature() -> None:
    first = "step 1 (webhook): order 17 at 2024-05-01T10:00:00Z: HTTP 503 from https://a/x?id=1"
    second = "step 3 (webhook): order 9001 at 2025-12-31T23:59:59Z: HTTP 503 from https://a/x?id=2"
    assert normalise_error(first) == normalise_error(second)
    assert normalise_error("HTTP 503 from https://a/x") != normalise_error(
        "HTTP 404 from https://a/x"
    )


def test_step_prefix_is_only_stripped_at_the_start() -> None:
    assert strip_step_prefix("step 1 (webhook): x") == "x"
    assert strip_step_prefix("oops step 1 (webhook): x") == "oops step 1 (webhook): x"


def test_long_messages_are_cut_to_a_short_signature() -> None:
    signature = normalise_error("word " * 1000)
    assert len(signature) == MAX_SIGNATURE
    assert signature.endswith("…")


HOSTILE = [
    "1" * 1_000_000,
    "a" * 1_000_000,
    "'" * 1_000_000,
    '"a' * 500_000,
    "http://" * 200_000,
    "a@" * 500_000,
    "1." * 500_000,
    "f:" * 500_000,
    ":" * 1_000_000,
    "a1-" * 300_000,
    "\u202e\x1b" * 500_000,
    "step 1 (" + "(" * 1_000_000,
    "0" * 64 + "-" + "a" * 1_000_000,
]


@pytest.mark.parametrize("message", HOSTILE, ids=lambda m: repr(m[:8]))
def test_hostile_messages_cost_bounded_time_and_length(message: str) -> None:
    started = time.process_time()
    signature = normalise_error(message)
    classify_error(message)
    # Generous bound: the real cost is about a millisecond; CPU time ignores a busy machine.
    assert time.process_time() - started < 0.5
    assert len(signature) <= MAX_SIGNATURE


@given(st.text(max_size=3000))
def test_any_text_gives_a_short_signature_that_is_stable(message: str) -> None:
    signature = normalise_error(message)
    assert len(signature) <= MAX_SIGNATURE
    assert normalise_error(message) == signature


VERDICTS = [
    # (message, transient) — as the executor and the webhook action decide retries.
    ("step 0 (webhook): HTTP 503", True),
    ("webhook failed after 4 attempt(s): HTTP 502", True),
    ("HTTP 500", True),
    ("HTTP 429 from Teams webhook: rate limited", True),
    ("HTTP 408", True),
    ("HTTP 404", False),
    ("HTTP 409 duplicate", False),
    ("task service returned HTTP 409: duplicate task", False),
    ("HTTP 401", False),
    ("SMTP 421 service not available, closing channel", True),
    ("SMTP 550 mailbox unavailable for a@b.example", False),
    ("Twilio 20429: too many requests", True),
    ("timed out after 30 s", True),
    ("connection timed out after 30.0s", True),
    ("workflow timeout reached after 3 attempt(s)", True),
    ("workflow timeout of 300s reached", True),
    ("connection failed: [Errno 111] Connection refused", True),
    ("undecodable response: bad gzip", True),
    ("worker lost", True),
    ("refused outbound call to db (10.0.0.1) (private); list the host", False),
    ("invalid webhook request: bad URL", False),
    ("too many redirects", False),
    ("webhook body is not JSON: bad", False),
    ("missing value for 'trigger.x': no key 'x'", False),
    ("template path trigger.customer missing", False),
    ("step 0 (slack): action type 'slack' cannot run in this version of wfconsole", False),
    ("step 1 (webhook): KeyError: 'x'", True),
    ("Slack API error: channel_not_found", False),
    ("something nobody has seen before", False),
    ("", False),
    (None, False),
]


@pytest.mark.parametrize(("message", "transient"), VERDICTS)
def test_classify_error(message: str | None, transient: bool) -> None:
    assert classify_error(message) is transient
