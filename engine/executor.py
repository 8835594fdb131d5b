"""Run one execution: claim it, test conditions, run its actions, record the outcome.

The executor decides; it never enqueues. It returns an ``Outcome`` and the queue layer
schedules whatever comes next (a retry at T, a re-check when the cap was full).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from engine import execution_store as store
from engine.actions.errors import ActionError
from engine.actions.registry import ActionOutput, StepContext, run_action
from engine.conditions import evaluate
from engine.config import Settings
from engine.db import Database
from engine.definition import WorkflowDefinition, validate_definition
from engine.models import ExecutionStatus, LogLevel, WorkflowVersion, table_of, utcnow
from engine.templating import TemplateError

log = logging.getLogger("wfconsole.executor")
LEASE_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class Outcome:
    """What happened to one execution id, and what the queue should do next."""

    status: str  # a final status, "RETRY", or "NOOP" (nothing to do / not ours)
    retry_in: float | None = None  # seconds until the queue should look again
    error: str | None = None


class DefinitionCache:
    """Definitions by (workflow id, version): versions never change, so entries never go stale."""

    def __init__(self, size: int = 512) -> None:
        self._entries: OrderedDict[tuple[str, int], WorkflowDefinition] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, db: Database, workflow_id: str, version: int) -> WorkflowDefinition:
        """The definition an execution was triggered with."""
        key = (workflow_id, version)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        table = table_of(WorkflowVersion)
        with db.read_engine.connect() as conn:
            document = conn.execute(
                sa.select(table.c.definition).where(
                    table.c.workflow_id == workflow_id, table.c.version == version
                )
            ).scalar_one()
        definition = validate_definition(document)
        with self._lock:
            self._entries[key] = definition
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return definition


class Executor:
    """Runs executions for one worker (thread-safe: share one per process)."""

    def __init__(self, db: Database, settings: Settings, worker_id: str) -> None:
        self.db = db
        self.settings = settings
        self.worker_id = worker_id
        self.definitions = DefinitionCache()

    def run(self, execution_id: str) -> Outcome:
        """Claim and run one execution to its end or its next retry."""
        # One pooled connection for the whole run: each transaction below reuses it.
        with self.db.engine.connect() as conn:
            return self._run(conn, execution_id)

    def _run(self, conn: sa.Connection, execution_id: str) -> Outcome:
        now = utcnow()
        cap = self.settings.workflow.max_concurrent_executions
        with conn.begin():
            claimed = store.claim(
                conn,
                execution_id,
                now=now,
                lease_until=now
                + timedelta(seconds=self.settings.workflow.default_timeout)
                + LEASE_GRACE,
                worker_id=self.worker_id,
                max_running=cap,
            )
        if isinstance(claimed, store.ClaimRefusal):
            if claimed.reason == "busy":
                return Outcome("NOOP", retry_in=_busy_delay())
            if claimed.reason == "not_due" and claimed.available_at is not None:
                return Outcome("NOOP", retry_in=(claimed.available_at - now).total_seconds())
            return Outcome("NOOP")
        # SQLite runs the claim's cap test under its one write lock, so it cannot race;
        # PostgreSQL claims can, and the one that checks last sees both.
        over = conn.dialect.name != "sqlite" and store.over_cap(conn, cap)
        conn.rollback()  # end the read transaction the check opened
        if over:
            with conn.begin():
                store.give_back(conn, claimed.id, worker_id=self.worker_id)
            return Outcome("NOOP", retry_in=_busy_delay())
        definition = self.definitions.get(self.db, claimed.workflow_id, claimed.workflow_version)
        if definition.timeout != self.settings.workflow.default_timeout:
            # The claim leased for the default timeout; the lease is this workflow's + grace.
            with conn.begin():
                store.extend_lease(
                    conn,
                    claimed.id,
                    worker_id=self.worker_id,
                    lease_until=now + timedelta(seconds=definition.timeout) + LEASE_GRACE,
                )
        return _Run(self, conn, claimed, definition).execute()


def _busy_delay() -> float:
    """When the RUNNING cap is full: look again in 0.5 to 1 s (jittered so retries spread)."""
    return 0.5 + random.random() * 0.5  # noqa: S311


class _Run:
    """The state of one attempt of one execution."""

    def __init__(
        self,
        executor: Executor,
        conn: sa.Connection,
        claimed: store.Claimed,
        definition: WorkflowDefinition,
    ) -> None:
        self.ex = executor
        self.conn = conn
        self.claimed = claimed
        self.definition = definition
        self.t0 = time.monotonic()
        self.deadline = self.t0 + definition.timeout
        self.writes = store.PendingWrites()
        self.next_step = claimed.next_step
        self.steps: list[dict[str, Any]] = []

    def log(self, level: LogLevel, message: str, step: int | None = None, **data: Any) -> None:
        self.writes.logs.append(
            {
                "execution_id": self.claimed.id,
                "level": level.value,
                "message": message,
                "data": data or None,
                "step_index": step,
                "timestamp": utcnow(),
            }
        )

    def context(self) -> dict[str, Any]:
        return {
            "trigger": self.claimed.trigger_data,
            "workflow": {
                "id": self.claimed.workflow_id,
                "name": self.definition.name,
                "version": self.claimed.workflow_version,
            },
            "execution": {
                "id": self.claimed.id,
                "retry_count": self.claimed.retry_count,
                "trigger_type": self.claimed.trigger_type,
            },
            "steps": self.steps,
        }

    def execute(self) -> Outcome:
        attempt = self.claimed.retry_count + 1
        self.log(LogLevel.INFO, f"attempt {attempt} started on {self.ex.worker_id}")
        if self.next_step > 0:
            self.steps = store.finished_step_results(
                self.conn, self.claimed.id, before=self.next_step
            )
            self.conn.rollback()
            self.log(LogLevel.INFO, f"resuming after step {self.next_step - 1}")
        elif self.definition.conditions is not None:
            if not evaluate(self.definition.conditions, self.context()):
                self.log(LogLevel.INFO, "conditions not met: skipped")
                return self.finish(ExecutionStatus.SKIPPED)
            self.log(LogLevel.DEBUG, "conditions met")
        actions = self.definition.actions
        while self.next_step < len(actions):
            index = self.next_step
            if time.monotonic() >= self.deadline:
                return self.fail(f"workflow timeout of {self.definition.timeout}s reached", False)
            step_started = time.monotonic()
            try:
                result = self.run_step(index)
            except ActionError as exc:
                elapsed = (time.monotonic() - step_started) * 1000
                self.record(index, "FAILED", exc.data or None, exc.message, elapsed)
                if not actions[index].continue_on_error:
                    # Past the workflow's deadline a retry would only time out again.
                    transient = exc.transient and time.monotonic() < self.deadline
                    return self.fail(
                        f"step {index} ({actions[index].type}): {exc.message}",
                        transient,
                        exc.retry_after,
                    )
                self.log(
                    LogLevel.WARNING, f"step {index} failed, continuing: {exc.message}", step=index
                )
            else:
                elapsed = (time.monotonic() - step_started) * 1000
                self.record(index, "SUCCESS", result.data, None, elapsed)
                self.log(
                    LogLevel.INFO,
                    f"step {index} ({actions[index].type}) done in {elapsed:.0f} ms: "
                    f"{result.summary}",
                    step=index,
                )
            self.next_step += 1
            # A finished step (succeeded or failed-and-continued) is committed before the
            # next starts, so a retry never runs it again; the last one commits with finish.
            if self.next_step < len(actions):
                stop = self.commit_step()
                if stop is not None:
                    return stop
        return self.finish(ExecutionStatus.SUCCESS)

    def run_step(self, index: int) -> ActionOutput:
        spec = self.definition.actions[index]
        ctx = StepContext(
            execution_id=self.claimed.id,
            step_index=index,
            deadline=self.deadline,
            settings=self.ex.settings,
            db=self.ex.db,
        )
        try:
            return run_action(spec, self.context(), ctx)
        except TemplateError as exc:
            raise ActionError(str(exc), transient=False) from None
        except ActionError:
            raise
        except Exception as exc:  # an action's own bug must not lose the execution
            log.exception("step %s of %s crashed", index, self.claimed.id)
            raise ActionError(f"{type(exc).__name__}: {exc}", transient=True) from None

    def record(
        self,
        index: int,
        status: str,
        result: dict[str, Any] | None,
        error: str | None,
        elapsed_ms: float,
    ) -> None:
        now = utcnow()
        self.writes.steps.append(
            {
                "execution_id": self.claimed.id,
                "step_index": index,
                "action_type": self.definition.actions[index].type,
                "status": status,
                "result": result,
                "error": error,
                "attempt": self.claimed.retry_count,
                "started_at": now - timedelta(milliseconds=elapsed_ms),
                "completed_at": now,
                "duration_ms": elapsed_ms,
            }
        )
        self.steps.append(
            {
                "index": index,
                "type": self.definition.actions[index].type,
                "status": status,
                "result": result,
            }
        )

    def commit_step(self) -> Outcome | None:
        lease = utcnow() + timedelta(seconds=self.definition.timeout) + LEASE_GRACE
        with self.conn.begin():
            cancel = store.record_step(
                self.conn,
                self.claimed.id,
                worker_id=self.ex.worker_id,
                next_step=self.next_step,
                lease_until=lease,
                writes=self.writes,
            )
        if cancel is None:
            log.warning("execution %s is no longer ours; stopping", self.claimed.id)
            return Outcome("NOOP")
        if cancel:
            self.log(LogLevel.WARNING, f"cancelled by request before step {self.next_step}")
            return self.finish(ExecutionStatus.CANCELLED, error="cancelled")
        return None

    def fail(self, message: str, transient: bool, retry_after: float | None = None) -> Outcome:
        retry_count = self.claimed.retry_count
        if transient and retry_count < self.definition.max_retries:
            delay = retry_delay(
                self.definition.retry_delay, retry_count, self.ex.settings.workflow.max_retry_delay
            )
            delay = max(delay, retry_after or 0.0)
            self.log(
                LogLevel.WARNING,
                f"{message}; retry {retry_count + 1} of "
                f"{self.definition.max_retries} in {delay:.1f}s",
            )
            with self.conn.begin():
                ok = store.hand_back(
                    self.conn,
                    self.claimed.id,
                    worker_id=self.ex.worker_id,
                    next_step=self.next_step,
                    available_at=utcnow() + timedelta(seconds=delay),
                    error=message,
                    writes=self.writes,
                )
            if ok:
                return Outcome("RETRY", retry_in=delay, error=message)
            # Not handed back: cancelled meanwhile, or no longer ours (finish checks that).
            self.log(LogLevel.WARNING, "cancelled by request; not retried")
            return self.finish(ExecutionStatus.CANCELLED, error="cancelled")
        self.log(LogLevel.ERROR, f"failed: {message}")
        return self.finish(ExecutionStatus.FAILED, error=message)

    def finish(self, status: ExecutionStatus, error: str | None = None) -> Outcome:
        now = utcnow()
        duration = (time.monotonic() - self.t0) * 1000
        result = {"steps": len(self.steps)} if self.steps else None
        if status is not ExecutionStatus.FAILED:
            self.log(LogLevel.INFO, f"finished {status.value} in {duration:.0f} ms")
        with self.conn.begin():
            ok = store.finish(
                self.conn,
                self.claimed.id,
                worker_id=self.ex.worker_id,
                workflow_id=self.claimed.workflow_id,
                status=status.value,
                now=now,
                duration_ms=duration,
                next_step=self.next_step,
                result=result,
                error=error,
                writes=self.writes,
            )
        return Outcome(status.value, error=error) if ok else Outcome("NOOP")


def retry_delay(base: int, retry_count: int, cap: int) -> float:
    """``base · 2^retry_count`` seconds, capped, with ±10 % jitter against thundering herds."""
    delay = min(float(base) * (2**retry_count), float(cap))
    return delay * (0.9 + 0.2 * random.random())  # noqa: S311
