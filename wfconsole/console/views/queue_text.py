"""What the maintenance screen says about health and the queue, and the flush question.

Panels are about 25 columns wide at 80x24, so each line is short (the screen's CSS cuts
longer ones with an ellipsis); names and error details stay literal (``safe_text``).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from engine.services.maintenance import MaintenanceOverview
from engine.services.queue_tools import FlushResult, QueueReport
from wfconsole.console.views.maintenance_text import size_text
from wfconsole.console.widgets.safe_text import safe_text

LISTED = 4
"""Stale leases and locks named in the flush question (the rest are counted)."""


def _check(text: Text, label: str, check: dict[str, Any] | None, extra: str = "") -> None:
    text.append(f"\n{label:<11}")
    if check is not None and check.get("status") == "up":
        text.append("up", style="green")
        text.append(extra)
    else:
        detail = (check or {}).get("error") or "unknown"
        text.append_text(safe_text(f"DOWN {detail}", style="bold red"))


def health_panel(overview: MaintenanceOverview | None, health: dict[str, Any] | None) -> Text:
    """The ``/health`` document (as ``wfconsole health``) with the database's kind and size."""
    if overview is None or health is None:
        return Text("loading…", style="dim")
    text = Text()
    healthy = health.get("status") == "healthy"
    text.append("Health     ", style="bold")
    text.append("healthy" if healthy else "UNHEALTHY", style="green" if healthy else "bold red")
    checks = health.get("checks", {})
    _check(text, "database", checks.get("database"), f" · {overview.database_kind}")
    replica = (checks.get("database") or {}).get("replica")
    if replica is not None:  # down only degrades: the status above stays healthy
        _check(text, "replica", replica)
    text.append("\nsize       ")
    if overview.size_error is not None:
        text.append_text(safe_text(f"unknown: {overview.size_error}", style="red"))
    else:
        text.append(size_text(overview.database_size))
    _check(text, "queue", checks.get("queue"))
    workflows = checks.get("workflows")
    if workflows:
        text.append(f"\nworkflows  {workflows['total']:,} · {workflows['enabled']:,} enabled")
    return text


def queue_panel(report: QueueReport | None, error: str | None = None) -> Text:
    """Messages, PENDING and RUNNING executions, workers and what a flush would release."""
    text = Text()
    text.append("Queue", style="bold")
    if report is None:
        if error is None:
            text.append("\nloading…", style="dim")
        else:
            text.append_text(safe_text(f"\nunknown: {error}", style="red"))
        return text
    text.append("\nmessages ")
    if report.queue_error is not None:
        text.append_text(safe_text(f"DOWN {report.queue_error}", style="bold red"))
    else:
        text.append(f"{report.queued:,} · {report.scheduled:,} delayed")
    text.append(f"\npending  {report.pending_due:,} due · {report.pending_later:,} retry")
    text.append(f"\nrunning  {report.running:,} · {report.running_expired:,} expired")
    text.append(f"\nworkers  {report.workers_alive} alive · {report.workers_dead} dead")
    leases, locks = len(report.stale_leases), len(report.stale_locks)
    text.append("\nstale    ")
    text.append(f"{leases:,} lease · {locks} lock", style="bold red" if leases or locks else "")
    return text


def flush_question(report: QueueReport) -> Text:
    """What a flush releases, named, for its confirmation."""
    leases, locks = report.stale_leases, report.stale_locks
    text = Text.assemble(("Flush stale locks?\n\n", "bold"))
    if leases:
        text.append(
            f"Hand back {len(leases):,} execution(s) past their lease whose worker stopped "
            "beating (retried; FAILED when no retries are left):\n"
        )
        for lease in leases[:LISTED]:
            text.append(f"  {lease.execution_id[-12:]}  ")
            text.append_text(safe_text(lease.workflow, max_length=24))
            text.append("  ")
            text.append_text(safe_text(lease.worker_id or "-", style="dim", max_length=24))
            text.append("\n")
        if len(leases) > LISTED:
            text.append(f"  … and {len(leases) - LISTED:,} more\n", style="dim")
    if locks:
        text.append(f"Delete {len(locks)} Huey lock(s) whose holder stopped beating:\n")
        for entry in locks[:LISTED]:
            text.append("  ")
            text.append_text(safe_text(entry.name, max_length=32))
            text.append_text(
                safe_text(f"  {entry.lock.owner or 'no holder named'}", style="dim", max_length=30)
            )
            text.append("\n")
        if len(locks) > LISTED:
            text.append(f"  … and {len(locks) - LISTED} more\n", style="dim")
    text.append("\nRuns and locks of live workers are never touched.", style="dim")
    if locks:
        text.append(
            "\nNo built-in task takes a Huey lock (one that needs it uses "
            "engine.queue.locks.hold_lock): leases are what matter.",
            style="dim",
        )
    if report.held_by_dead:
        text.append(
            f"\n{report.held_by_dead:,} more RUNNING under stopped workers are released once "
            "their lease ends.",
            style="dim",
        )
    return text


def nothing_stale_line(report: QueueReport) -> str:
    """Why there was nothing to flush."""
    line = "flush: nothing stale (no lease or lock held by a worker that stopped beating)"
    if report.held_by_dead:
        line += f"; {report.held_by_dead:,} RUNNING wait for their lease to end"
    return line


def flushed_line(result: FlushResult) -> str:
    """What a flush released."""
    line = (
        f"flush: {result.retried:,} handed back for retry, {result.failed:,} failed, "
        f"{result.cancelled:,} cancelled, {len(result.locks_released)} lock(s) deleted"
    )
    kept = result.skipped + len(result.locks_kept)
    if kept:
        line += f"; {kept} no longer stale, left alone"
    if result.enqueue_error:
        line += "; the queue refused the retries (the sweeper enqueues them)"
    return line


__all__ = ["flush_question", "flushed_line", "health_panel", "nothing_stale_line", "queue_panel"]
