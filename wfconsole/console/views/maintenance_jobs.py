"""The maintenance screen's jobs, run in its thread workers; each reports by message.

Every function blocks (it is called from a worker thread) and posts ``JobProgressed``
lines while it runs and one ``JobFinished`` (or a ``…Planned`` dry run) at the end; an error
becomes a failed ``JobFinished`` with its first line, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from engine.maintenance.cleanup import CleanupPlan
from engine.services.queue_tools import QueueReport
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.views.display import first_line
from wfconsole.console.views.maintenance_text import size_text
from wfconsole.console.views.queue_text import flushed_line

Post = Callable[[Message], object]


@dataclass
class CleanupPlanned(Message):
    """The cleanup's dry run counted what would go."""

    plan: CleanupPlan


@dataclass
class FlushPlanned(Message):
    """The queue was read: what a flush of stale locks would release."""

    report: QueueReport


@dataclass
class JobProgressed(Message):
    """A job moved on: a line for the log and, when it counts, how far it is."""

    line: str
    done: int | None = None


@dataclass
class JobFinished(Message):
    """A job ended: what it did (or why it failed); ``restored`` asks to re-read the role."""

    line: str
    ok: bool
    restored: bool = False


def _failed(post: Post, job: str, exc: Exception) -> None:
    post(JobFinished(f"{job} failed: {first_line(str(exc))}", False))


def plan_cleanup(backend: ConsoleBackend, post: Post) -> None:
    """The dry run: count what retention would delete."""
    try:
        post(CleanupPlanned(backend.preview_cleanup()))
    except Exception as exc:  # shown in the log; nothing changed
        _failed(post, "cleanup", exc)


def run_cleanup(backend: ConsoleBackend, plan: CleanupPlan, actor: str, post: Post) -> None:
    """Delete what ``plan`` counted, posting each batch."""
    done = {"logs": 0, "executions": 0}

    def progress(what: str, count: int, total: int) -> None:
        done[what] = count
        post(JobProgressed(f"  {what}: {count:,} / {total:,}", sum(done.values())))

    try:
        result = backend.run_cleanup(plan, actor=actor, progress=progress)
    except Exception as exc:  # the batches done so far stay deleted; the log says how far
        _failed(post, "cleanup", exc)
        return
    post(
        JobFinished(
            f"cleanup: deleted {result.logs_deleted:,} log lines and "
            f"{result.executions_deleted:,} executions in {result.seconds:.1f} s",
            True,
        )
    )


def run_vacuum(backend: ConsoleBackend, actor: str, post: Post) -> None:
    """Vacuum, naming each statement; then the size before and after."""

    def progress(step: str) -> None:
        post(JobProgressed(f"  {step}"))

    try:
        result = backend.vacuum_database(actor=actor, progress=progress)
    except Exception as exc:  # shown in the log
        _failed(post, "vacuum", exc)
        return
    post(
        JobFinished(
            f"vacuum: {size_text(result.size_before)} before, "
            f"{size_text(result.size_after)} after ({result.seconds:.1f} s)",
            True,
        )
    )


def run_backup(backend: ConsoleBackend, actor: str, post: Post) -> None:
    """Write a backup; then its file and size."""
    try:
        result = backend.backup_database(actor=actor)
    except Exception as exc:  # shown in the log
        _failed(post, "backup", exc)
        return
    pruned = f"; pruned {len(result.pruned)} old" if result.pruned else ""
    post(
        JobFinished(
            f"backup: {result.path.name} {size_text(result.size)} "
            f"in {result.seconds:.1f} s{pruned}",
            True,
        )
    )


def run_restore(backend: ConsoleBackend, path: Path, actor: str, post: Post) -> None:
    """Restore ``path`` (the engine refuses while executions are RUNNING)."""
    try:
        seconds = backend.restore_database(path, actor=actor)
    except Exception as exc:  # refused or failed: shown in the log
        _failed(post, "restore", exc)
        return
    post(JobFinished(f"restored {path.name} in {seconds:.1f} s", True, restored=True))


def plan_flush(backend: ConsoleBackend, post: Post) -> None:
    """Read the queue: the stale leases and locks a flush would release."""
    try:
        post(FlushPlanned(backend.queue_report()))
    except Exception as exc:  # shown in the log; nothing changed
        _failed(post, "flush", exc)


def run_flush(backend: ConsoleBackend, plan: QueueReport, actor: str, post: Post) -> None:
    """Release what ``plan`` listed and is still stale."""
    try:
        result = backend.flush_stale_locks(plan, actor=actor)
    except Exception as exc:  # refused or failed: shown in the log
        _failed(post, "flush", exc)
        return
    post(JobFinished(flushed_line(result), True))
