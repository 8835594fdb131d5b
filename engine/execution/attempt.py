"""One attempt of one execution, as a state machine the executor drives one step at a time.

An ``Attempt`` writes no execution state itself. Each call leaves a ``decision`` (see
``engine.execution.decisions``) — commit the step just run and go on, hand back for a
retry, or finish — plus the step and log rows gathered meanwhile (``writes``). What a
step does outside (the records an action creates, the executions an emitted event starts
through the injected ``emit_event``) is the action's own. The executor commits the
decisions of several attempts in one transaction (``engine.execution.commit_rounds``)
and only then lets an attempt that goes on start its next step, so every finished step
is durable before the next one starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from engine.actions.errors import ActionError
from engine.actions.registry import run_action
from engine.actions.step_context import ActionOutput, StepContext
from engine.config import Settings
from engine.db import Database
from engine.definitions.conditions import evaluate
from engine.definitions.schema import WorkflowDefinition
from engine.definitions.templating import TemplateError
from engine.execution.claims import Claimed, PendingWrites
from engine.execution.decisions import (
    LEASE_GRACE,
    SKIPPED_LOG,
    Continue,
    Decision,
    Finish,
    Outcome,
    Retry,
    Wait,
    retry_delay,
)
from engine.execution.error_signature import normalise_error
from engine.models import ExecutionStatus, LogLevel, utcnow
from engine.outbound.holds import DestinationWaiting, wait_until

log = logging.getLogger("wfconsole.executor")


class EventEmitter(Protocol):
    """Starts the listeners of an event a step emitted; returns the new execution ids.

    Injected (``engine.triggers.new_executions.emit_from_step`` in a worker), as
    ``dispatch`` is: running executions does not depend on how executions are created.
    """

    def __call__(
        self,
        db: Database,
        event: str,
        data: dict[str, Any],
        *,
        execution_id: str,
        step_index: int,
        depth: int,
    ) -> list[str]: ...


class Attempt:
    """The state of one attempt of one claimed execution."""

    def __init__(
        self,
        claimed: Claimed,
        definition: WorkflowDefinition,
        *,
        settings: Settings,
        db: Database,
        worker_id: str,
        dispatch: Callable[[list[str]], None] | None = None,
        emit_event: EventEmitter | None = None,
    ) -> None:
        self.claimed = claimed
        self.dispatch = dispatch
        self.emit_event = emit_event
        self.definition = definition
        self.settings = settings
        self.db = db
        self.worker_id = worker_id
        self.t0 = time.monotonic()
        self.deadline = self.t0 + definition.timeout
        self.writes = PendingWrites()
        self.next_step = claimed.next_step
        self.steps: list[dict[str, Any]] = []
        self.decision: Decision | None = None

    @property
    def id(self) -> str:
        """The execution id."""
        return self.claimed.id

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

    # --- driven by the executor ---------------------------------------------------------

    def begin(self, finished_steps: list[dict[str, Any]]) -> None:
        """Log the start; resume after the finished steps, or test the conditions."""
        attempt = self.claimed.retry_count + 1
        self.log(LogLevel.INFO, f"attempt {attempt} started on {self.worker_id}")
        if self.next_step > 0:
            self.steps = finished_steps
            self.log(LogLevel.INFO, f"resuming after step {self.next_step - 1}")
        elif self.definition.conditions is not None and not evaluate(
            self.definition.conditions, self.context()
        ):
            # (Met conditions log nothing: a run's log is its start, steps and end.)
            self.log(LogLevel.INFO, SKIPPED_LOG)
            self.finish(ExecutionStatus.SKIPPED)
            return
        if self.next_step >= len(self.definition.actions):
            self.finish(ExecutionStatus.SUCCESS)

    def run_next_step(self) -> None:
        """Run the next action and decide what to commit (only while ``decision`` is None)."""
        actions = self.definition.actions
        index = self.next_step
        if time.monotonic() >= self.deadline:
            self.fail(f"workflow timeout of {self.definition.timeout}s reached", False)
            return
        step_started = time.monotonic()
        try:
            result = self.run_step(index)
        except DestinationWaiting as exc:
            self.wait(index, exc)
            return
        except ActionError as exc:
            elapsed = (time.monotonic() - step_started) * 1000
            self.record(index, "FAILED", exc.data or None, exc.message, elapsed)
            if not actions[index].continue_on_error:
                # The failed step runs again on retry. Past the workflow's deadline a
                # retry would only time out again.
                transient = exc.transient and time.monotonic() < self.deadline
                self.fail(
                    f"step {index} ({actions[index].type}): {exc.message}",
                    transient,
                    exc.retry_after,
                )
                return
            self.log(
                LogLevel.WARNING, f"step {index} failed, continuing: {exc.message}", step=index
            )
            self.next_step += 1
        else:
            elapsed = (time.monotonic() - step_started) * 1000
            event = actions[index].emit_event
            if event:
                try:
                    self.emit(index, event, result)
                except Exception as exc:  # storage trouble: the step is tried again later
                    log.warning("step %s of %s could not emit %r: %s", index, self.id, event, exc)
                    self.record(index, "FAILED", None, f"could not emit event {event!r}", elapsed)
                    self.fail(f"step {index}: could not emit event {event!r}", True)
                    return
            self.record(index, "SUCCESS", result.data, None, elapsed)
            self.log(
                LogLevel.INFO,
                f"step {index} ({actions[index].type}) done in {elapsed:.0f} ms: {result.summary}",
                step=index,
            )
            self.next_step += 1
        # A finished step (succeeded or failed-and-continued) is committed before the next
        # starts, so a retry never runs it again; the last one commits with the finish.
        if self.next_step < len(actions):
            lease = utcnow() + timedelta(seconds=self.definition.timeout) + LEASE_GRACE
            self.decision = Continue(lease)
        else:
            self.finish(ExecutionStatus.SUCCESS)

    def cancel_requested(self) -> None:
        """The row asks for a cancel: a step that would go on, or a retry, ends CANCELLED."""
        if isinstance(self.decision, Continue):
            self.log(LogLevel.WARNING, f"cancelled by request before step {self.next_step}")
            self.finish(ExecutionStatus.CANCELLED, error="cancelled")
        elif isinstance(self.decision, Retry | Wait):
            # The claim clears the flag, so a handed-back run would forget it and run again.
            self.log(LogLevel.WARNING, "cancelled by request; not retried")
            self.finish(ExecutionStatus.CANCELLED, error="cancelled")

    def committed(self) -> Outcome | None:
        """The decision is durable: the outcome when the attempt is over, else None."""
        self.writes = PendingWrites()
        decision, self.decision = self.decision, None
        if isinstance(decision, Retry):
            return Outcome("RETRY", retry_in=decision.delay, error=decision.error)
        if isinstance(decision, Finish):
            return Outcome(decision.status, error=decision.error)
        if isinstance(decision, Wait):
            return Outcome("WAITING", retry_in=decision.retry_in)
        return None

    # --- the steps ----------------------------------------------------------------------

    def run_step(self, index: int) -> ActionOutput:
        spec = self.definition.actions[index]
        ctx = StepContext(
            execution_id=self.claimed.id,
            step_index=index,
            deadline=self.deadline,
            settings=self.settings,
            db=self.db,
        )
        try:
            return run_action(spec, self.context(), ctx)
        except TemplateError as exc:
            raise ActionError(str(exc), transient=False) from None
        except (ActionError, DestinationWaiting):
            raise
        except Exception as exc:  # an action's own bug must not lose the execution
            log.exception("step %s of %s crashed", index, self.claimed.id)
            raise ActionError(f"{type(exc).__name__}: {exc}", transient=True) from None

    def emit(self, index: int, event: str, result: ActionOutput) -> None:
        """Start the listeners of ``event`` (once each, even if this step runs again)."""
        depth = self.claimed.event_depth + 1
        limit = self.settings.workflow.max_event_depth
        if depth > limit:
            self.log(
                LogLevel.WARNING,
                f"event {event!r} not emitted: chains stop at depth {limit}",
                step=index,
            )
            return
        data = {
            "event": event,
            "data": result.data,
            "source": {"workflow": self.definition.name, "execution_id": self.id, "step": index},
        }
        if self.emit_event is None:
            self.log(
                LogLevel.WARNING,
                f"event {event!r} not emitted: this worker starts no executions",
                step=index,
            )
            return
        ids = self.emit_event(
            self.db, event, data, execution_id=self.id, step_index=index, depth=depth
        )
        self.log(LogLevel.INFO, f"event {event!r} started {len(ids)} execution(s)", step=index)
        # Runs whose conditions were false are stored SKIPPED already: nothing to enqueue.
        pending = list(getattr(ids, "to_enqueue", ids))
        if pending and self.dispatch is not None:
            try:
                self.dispatch(pending)
            except Exception as exc:  # the rows are committed: the sweeper enqueues them
                log.warning("could not enqueue %d event execution(s): %s", len(pending), exc)

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

    def wait(self, index: int, waiting: DestinationWaiting) -> None:
        """Hand the run back to wait for the step's destination (no failure, no retry)."""
        until = wait_until(waiting.until)
        when = "until released" if waiting.until is None else f"until {until:%H:%M:%S} UTC"
        self.log(
            LogLevel.INFO,
            f"step {index} waits: destination {waiting.destination} is {waiting.reason}, {when}",
            step=index,
        )
        retry_in = None
        if waiting.until is not None:
            retry_in = max((waiting.until - utcnow()).total_seconds(), 0.0) + 0.05
        self.decision = Wait(waiting.destination, until, retry_in)

    def fail(self, message: str, transient: bool, retry_after: float | None = None) -> None:
        retry_count = self.claimed.retry_count
        if transient and retry_count < self.definition.max_retries:
            delay = retry_delay(
                self.definition.retry_delay, retry_count, self.settings.workflow.max_retry_delay
            )
            delay = max(delay, retry_after or 0.0)
            self.log(
                LogLevel.WARNING,
                f"{message}; retry {retry_count + 1} of "
                f"{self.definition.max_retries} in {delay:.1f}s",
            )
            self.decision = Retry(delay, utcnow() + timedelta(seconds=delay), message)
            return
        self.log(LogLevel.ERROR, f"failed: {message}")
        self.finish(ExecutionStatus.FAILED, error=message)

    def finish(self, status: ExecutionStatus, error: str | None = None) -> None:
        duration = (time.monotonic() - self.t0) * 1000
        if status is not ExecutionStatus.FAILED:
            self.log(LogLevel.INFO, f"finished {status.value} in {duration:.0f} ms")
        result = {"steps": len(self.steps)} if self.steps else None
        # Normalised once here, off the commit path, so the failure clusters group in SQL.
        signature = normalise_error(error) if status is ExecutionStatus.FAILED else None
        self.decision = Finish(status.value, error, utcnow(), duration, result, signature)
