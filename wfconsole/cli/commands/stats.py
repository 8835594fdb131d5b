"""``wfconsole stats [--json]``: throughput, rates, durations, daily figures, failures.

Read through the database driver alone when the settings allow it (issue 15: no
SQLAlchemy, no pydantic at start), the engine's connections otherwise; the figures come
from the same queries either way (``engine.plain_reads.statistics``)."""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.context import opened_database, settings_for
from wfconsole.cli.plain import plain_reader

if TYPE_CHECKING:
    from engine.plain_reads.local_queue import QueueDepth
    from engine.plain_reads.reader import Reader
    from engine.plain_reads.target import PlainTarget


def _count(text: str, *, most: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= most:
        raise argparse.ArgumentTypeError(f"must be between 1 and {most}")
    return value


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def print_report(document: dict[str, Any]) -> None:
    """The document as a few readable tables."""
    queue, summary = document["queue"], document["summary"]
    messages = (
        f"queued {queue['queued']}, scheduled {queue['scheduled']}"
        if queue["error"] is None and queue["queued"] is not None
        else f"messages unknown ({queue['error'] or 'no queue'})"
    )
    print(f"statistics at {document['taken_at']}")
    print(f"queue      {messages}; running {queue['running']}, pending {queue['pending']}")
    print(
        f"last {document['hours']} h  finished {summary['finished']:,} (success "
        f"{summary['succeeded']:,}, failed {summary['failed']:,}, cancelled "
        f"{summary['cancelled']:,}, skipped {summary['skipped']:,})"
    )
    print(
        f"           success rate {_percent(summary['success_rate'])}, avg "
        f"{_ms(summary['avg_duration_ms'])}, p95 {_ms(summary['p95_duration_ms'])}"
    )
    print("\nexecutions per hour (UTC)      finished   failed")
    for hour in document["executions_per_hour"]:
        label = hour["hour"][:13].replace("T", " ")
        print(f"  {label}:00          {hour['finished']:>9,} {hour['failed']:>8,}")
    print(f"\ndaily, last {document['days']} days   finished   failed  success      avg")
    for day in document["daily"]:
        if day["finished"]:
            rate, avg = _percent(day["success_rate"]), _ms(day["avg_duration_ms"])
            print(
                f"  {day['date']}       {day['finished']:>9,} {day['failed']:>8,} "
                f"{rate:>8} {avg:>9}"
            )
    for title, key, first in (
        ("top failing workflows", "top_failing_workflows", "failures"),
        ("most executed workflows", "most_executed_workflows", "executions"),
    ):
        print(f"\n{title} ({document['days']} d)")
        for row in document[key] or [{"workflow": "(none)", first: 0}]:
            print(f"  {row[first]:>9,}  {row['workflow']}")
    print(f"\nfailure reasons ({document['days']} d)")
    none = {"failures": 0, "signature": "(none)", "transient": False}
    for reason in document["failure_reasons"] or [none]:
        kind = "transient" if reason["transient"] else "permanent"
        print(f"  {reason['failures']:>9,}  {kind:<9}  {reason['signature']}")
    created = [day for day in document["workflows_created"] if day["workflows"]]
    listed = ", ".join(f"{d['date']} {d['workflows']}" for d in created) or "none"
    print(f"\nworkflows created ({document['days']} d): {listed}")


def stats_command(args: argparse.Namespace) -> int:
    """Collect the statistics and print them as a report or JSON. The plain read answers
    when it can (``wfconsole.cli.plain``: simple settings, the local queue); otherwise
    the settings are validated and the engine's connections read the same figures."""
    now = datetime.now(UTC)
    with plain_reader(args, local_queue=True) as plain:
        if plain is not None:
            document = _plain_document(*plain, now=now, days=args.days)
            return _print(args, document)
    from engine.queue.depth import QueueCounts
    from engine.services.stats_report import collect_statistics, statistics_document

    settings = settings_for(args)
    with opened_database(args, settings) as db:
        stats = collect_statistics(db, QueueCounts(settings), now=now, days=args.days)
    return _print(args, statistics_document(stats))


class _LocalQueue:
    """The local queue's two counts, read at the first call: a queue file that cannot be
    read raises there, where the figures record it as the queue's state."""

    def __init__(self, target: PlainTarget) -> None:
        self._target = target

    @functools.cached_property
    def _depth(self) -> QueueDepth:
        from engine.plain_reads.local_queue import local_queue_depth

        return local_queue_depth(self._target.queue_path, self._target.queue_name)

    def pending_count(self) -> int:
        """Messages waiting to be picked up."""
        return self._depth.queued

    def scheduled_count(self) -> int:
        """Messages scheduled for later."""
        return self._depth.scheduled


def _plain_document(
    reader: Reader, target: PlainTarget, *, now: datetime, days: int
) -> dict[str, Any]:
    """The document read through the driver alone: ``reader`` for the small reads, and a
    reader of their own for each of the two window reads that run in threads."""
    from engine.execution.error_signature import classify_error, normalise_error
    from engine.plain_reads.failure_reasons import ErrorSignatures
    from engine.plain_reads.statistics import collect_statistics, statistics_document
    from engine.plain_reads.target import open_reader

    @contextmanager
    def another_reader() -> Iterator[Reader]:
        opened = open_reader(target)
        if opened is None:  # it answered a moment ago (no URL: it may hold a password)
            raise RuntimeError("the database stopped answering during the statistics")
        try:
            yield opened
        finally:
            opened.connection.close()

    signatures = ErrorSignatures(normalise=normalise_error, classify=classify_error)
    stats = collect_statistics(
        reader, another_reader, _LocalQueue(target), signatures, now=now, days=days
    )
    return statistics_document(stats)


def _print(args: argparse.Namespace, document: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print_report(document)
    return 0


COMMANDS: tuple[Row, ...] = (
    Command(
        ("stats",), stats_command,
        "execution statistics: per hour, success rate, durations, daily, failures",
        (arg("--json", action="store_true", help="print the JSON document"),
         arg("--days", type=lambda t: _count(t, most=366), default=30, metavar="N",
             help="days of daily figures and lists (default 30)")),
        description="Executions per hour and the success rate, mean and p95 duration of "
        "the last 24 hours; per-day figures, top failing and most executed workflows, "
        "failure reasons and workflows created over the last --days (30).",
    ),
)  # fmt: skip
