"""``wfconsole maintenance queue [--json]`` and ``wfconsole maintenance flush-locks [--dry-run]``.

``queue`` only reads (exit 1 when the queue did not answer). ``flush-locks`` needs ADMIN,
checked against the operator's stored role as the console does, and is audited;
``--dry-run`` lists what would be released and changes nothing.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.context import current_user, opened_database, settings_for
from wfconsole.cli.output import print_table, timestamp
from wfconsole.cli.plain import plain_reader

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.db import Database
    from engine.plain_reads.queue_report import QueueReport
    from engine.plain_reads.reader import Reader
    from engine.plain_reads.target import PlainTarget
    from engine.services.queue_tools import FlushResult
    from engine.workers.runtime import Queue


def report_document(report: QueueReport, queue_kind: str) -> dict[str, Any]:
    """The ``--json`` document of ``maintenance queue``."""
    return {
        "taken_at": timestamp(report.taken_at),
        "queue": {"kind": queue_kind, "queued": report.queued, "scheduled": report.scheduled,
                  "error": report.queue_error},
        "executions": {"pending_due": report.pending_due, "pending_later": report.pending_later,
                       "running": report.running, "running_expired": report.running_expired,
                       "held_by_dead": report.held_by_dead},
        "workers": {"alive": report.workers_alive, "dead": report.workers_dead},
        "stale_leases_total": report.stale_lease_total,
        "stale_leases": [
            {"id": lease.execution_id, "workflow": lease.workflow, "worker_id": lease.worker_id,
             "lease_until": timestamp(lease.lease_until)}
            for lease in report.stale_leases
        ],
        "locks": [{"name": entry.name, "owner": entry.lock.owner, "stale": entry.stale}
                  for entry in report.locks],
    }  # fmt: skip


def _print_report(report: QueueReport, queue_kind: str) -> None:
    if report.queue_error is not None:
        messages = f"DOWN ({report.queue_error})"
    else:
        messages = f"{report.queued:,} queued, {report.scheduled:,} scheduled"
    print(f"queue       {queue_kind}: {messages}")
    print(
        f"executions  {report.pending_due:,} pending due, {report.pending_later:,} waiting "
        f"for a retry, {report.running:,} running ({report.running_expired:,} past the lease)"
    )
    print(f"workers     {report.workers_alive} alive, {report.workers_dead} stopped beating")
    if report.held_by_dead:
        print(f"            {report.held_by_dead:,} running held by them until the lease ends")
    _print_stale(report)


def _print_stale(report: QueueReport) -> None:
    stale_locks = report.stale_locks
    total = report.stale_lease_total
    leases = len(report.stale_leases) if total is None else total
    print(f"stale       {leases:,} lease(s), {len(stale_locks)} lock(s)")
    if report.unlisted_leases:
        print(f"            listing the oldest {len(report.stale_leases):,} lease(s); a flush "
              "releases those, run it again for the rest")  # fmt: skip
    rows = [
        ["lease", lease.execution_id, lease.workflow, lease.worker_id or "-",
         timestamp(lease.lease_until) or "-"]
        for lease in report.stale_leases
    ] + [["lock", entry.name, "", entry.lock.owner or "(no holder named)", ""]
         for entry in stale_locks]  # fmt: skip
    if rows:
        print_table(["kind", "id / name", "workflow", "holder", "lease ended"], rows)


def _inspect(settings: Settings, db: Database) -> tuple[Queue, QueueReport]:
    from engine.services.queue_tools import inspect_queue
    from engine.workers.runtime import Queue

    queue = Queue(settings, db=db)
    interval = settings.queue.heartbeat_interval
    return queue, inspect_queue(db, queue.huey, heartbeat_interval=interval)


def queue_command(args: argparse.Namespace) -> int:
    """Print the queue's figures; exit 1 when the queue did not answer. The plain read
    answers when it can (``wfconsole.cli.plain``: simple settings, the local queue, and
    no lock in it: see ``engine.plain_reads.queue_report``); otherwise the settings are
    validated and the engine's connections and Huey read the same figures."""
    now = datetime.now(UTC)
    with plain_reader(args, local_queue=True) as plain:
        report = None if plain is None else _plain_report(*plain, now=now)
    if report is not None:
        return _print_queue(args, report, "sqlite")
    from engine.queue.instance import make_huey
    from engine.services.queue_tools import inspect_opened_queue

    settings = settings_for(args)
    with opened_database(args, settings) as db:
        # The bare queue, not the worker runtime: reading needs no tasks or executor.
        report = inspect_opened_queue(
            db, lambda: make_huey(settings),
            heartbeat_interval=settings.queue.heartbeat_interval, now=now,
        )  # fmt: skip
    return _print_queue(args, report, "redis" if settings.uses_redis else "sqlite")


def _plain_report(reader: Reader, target: PlainTarget, *, now: datetime) -> QueueReport | None:
    """The report read through the driver alone, or None (go the full way): the queue
    file holds a lock (its value is read through the queue's signed serializer) or could
    not be read (the full path reports it in its own words)."""
    from engine.plain_reads.local_queue import local_queue_depth
    from engine.plain_reads.queue_report import (
        DEFAULT_HEARTBEAT_INTERVAL,
        execution_figures,
        local_queue_holds_locks,
        queue_report,
    )

    try:
        if local_queue_holds_locks(target.queue_path, target.queue_name):
            return None
        depth = local_queue_depth(target.queue_path, target.queue_name)
    except Exception:  # the full path reports it as the queue's state
        return None
    figures = execution_figures(reader, now=now, heartbeat_interval=DEFAULT_HEARTBEAT_INTERVAL)
    return queue_report(figures, queued=depth.queued, scheduled=depth.scheduled)


def _print_queue(args: argparse.Namespace, report: QueueReport, kind: str) -> int:
    if args.json:
        print(json.dumps(report_document(report, kind), indent=2))
    else:
        _print_report(report, kind)
    return 0 if report.queue_error is None else 1


def _released_line(result: FlushResult) -> str:
    line = (
        f"released {result.leases_released:,} lease(s): {result.retried:,} handed back for "
        f"retry, {result.failed:,} failed (no retries left), {result.cancelled:,} cancelled; "
        f"{len(result.locks_released)} lock(s)"
    )
    if result.skipped or result.locks_kept:
        kept = result.skipped + len(result.locks_kept)
        line += f"; left {kept} that stopped being stale"
    return line


def flush_locks_command(args: argparse.Namespace) -> int:
    """List the stale locks, then release them (unless ``--dry-run``)."""
    from engine.access.audit import require_permission
    from engine.access.roles import Permission, PermissionDenied
    from engine.services.queue_tools import flush_stale_locks

    settings = settings_for(args)
    refusal = (PermissionDenied,)
    with opened_database(args, settings, user_errors=refusal, prefix="flush-locks: ") as db:
        queue, report = _inspect(settings, db)
        if not args.dry_run:
            require_permission(db, current_user(args), Permission.EDIT)
        _print_stale(report)
        if args.dry_run:
            print(f"would release {len(report.stale_leases):,} lease(s) and "
                  f"{len(report.stale_locks)} lock(s)")  # fmt: skip
            return 0
        if report.nothing_stale:
            print("nothing to release")
            return 0
        result = flush_stale_locks(
            db, queue.huey, queue, report, actor=current_user(args),
            heartbeat_interval=settings.queue.heartbeat_interval,
        )  # fmt: skip
    print(_released_line(result))
    if report.unlisted_leases:
        print(f"{report.unlisted_leases:,} more stale lease(s) were not in this flush: "
              "run flush-locks again")  # fmt: skip
    if result.enqueue_error:
        print(f"the queue refused the retries ({result.enqueue_error}); the sweeper enqueues them")
    return 0


COMMANDS: tuple[Row, ...] = (
    Command(
        ("maintenance", "queue"), queue_command,
        "queue messages, PENDING/RUNNING executions, workers and stale locks",
        (arg("--json", action="store_true", help="print one JSON document"),),
        description="Messages waiting and scheduled (delayed retries) in the queue, "
        "PENDING and RUNNING executions, worker heartbeats, and the stale locks: leases "
        "past their end held by a worker that stopped beating, and Huey locks whose "
        "holder stopped beating (none unless a task takes one with "
        "engine.queue.locks.hold_lock). Exit status 1 when the queue did not answer.",
    ),
    Command(
        ("maintenance", "flush-locks"), flush_locks_command,
        "hand back leases held by workers that stopped beating",
        (arg("--dry-run", action="store_true",
             help="list what would be released, change nothing"),),
        description="Hands back RUNNING executions past their lease whose worker has no "
        "live heartbeat (retry, or FAILED when retries are spent, as the sweeper does). "
        "It also deletes stale Huey locks, but no built-in task takes one today (a task "
        "that needs one uses engine.queue.locks.hold_lock), so leases are what it "
        "releases. Runs of live workers are never touched. Needs ADMIN; audited as "
        "maintenance.flush_locks, also when it fails partway.",
    ),
)  # fmt: skip
