"""Run executions: claim a batch, run their steps concurrently, commit decisions in rounds.

The executor decides; it never enqueues. It returns an ``Outcome`` per execution id and
the queue layer schedules whatever comes next (a retry at T, a re-check when the cap was
full).

One call (``run_batch``) claims the given ids — and, with ``fill``, other due executions
— in one statement, then drives their ``Attempt``s: the steps run concurrently (a shared
thread pool; a lone attempt runs in the calling thread), and whenever steps finish, their
decisions are committed together in one transaction (``engine.execution.commit_rounds``). An attempt
starts its next step only after the round holding its previous step has committed.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import psycopg
import sqlalchemy as sa

from engine.config import Settings
from engine.db import Database
from engine.definitions.schema import WorkflowDefinition, validate_definition
from engine.execution import claims as store
from engine.execution import commit_rounds, gated_claims, postgres_pipeline
from engine.execution.attempt import Attempt, EventEmitter
from engine.execution.decisions import LEASE_GRACE, Finish, Outcome, retry_delay
from engine.execution.step_pool import Slots, StepPool
from engine.models import WorkflowVersion, table_of, utcnow
from engine.outbound.gate import GATE

log = logging.getLogger("wfconsole.executor")
# After the first step of a batch finishes, wait this long for the others before committing,
# so steps that finish together commit together (a slow step never holds the rest longer).
LINGER_SECONDS = 0.005
# A message whose ids found the cap full claims again after its batch freed slots.
MAX_CLAIMS_PER_CALL = 8
# PostgreSQL deadlock / serialization failure: the round's transaction is simply redone.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})

__all__ = ["LEASE_GRACE", "DefinitionCache", "Executor", "Outcome", "retry_delay"]


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
        # The primary: a version saved a moment ago may not have reached a replica yet.
        with db.primary_read_engine.connect() as conn:
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


def _open_round(conn: sa.Connection) -> AbstractContextManager[commit_rounds.Round]:
    if postgres_pipeline.fast_path(conn):
        return postgres_pipeline.pg_round(conn)
    return commit_rounds.core_round(conn)


def _item(attempt: Attempt) -> commit_rounds.RoundItem:
    assert attempt.decision is not None
    return commit_rounds.RoundItem(
        attempt.id, attempt.claimed.workflow_id, attempt.next_step, attempt.decision,
        attempt.writes,
    )  # fmt: skip


def _finishes_only(conn: sa.Connection, attempts: list[Attempt]) -> bool:
    """A round that only finishes runs, none of them with a step run again, on PostgreSQL:
    ``postgres_pipeline.finish_round`` writes it in one round trip."""
    return (
        postgres_pipeline.fast_path(conn)
        and all(isinstance(a.decision, Finish) for a in attempts)
        and not any(step["attempt"] > 0 for a in attempts for step in a.writes.steps)
    )


def _busy_delay() -> float:
    """When the RUNNING cap is full: look again in 0.5 to 1 s (jittered so retries spread)."""
    return 0.5 + random.random() * 0.5  # noqa: S311


def _retryable(exc: Exception) -> bool:
    """A deadlock or serialization failure: the transaction can simply be redone."""
    error = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    return getattr(error, "sqlstate", None) in _RETRYABLE_SQLSTATES


class Executor:
    """Runs executions for one worker process (thread-safe: share one per process)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        worker_id: str,
        dispatch: Callable[[list[str]], None] | None = None,
        emit_event: EventEmitter | None = None,
    ) -> None:
        self.db = db
        self.dispatch = dispatch
        """Enqueues executions that steps start by emitting events (None: the sweeper does)."""
        self.emit_event = emit_event
        """Starts the listeners of an emitted event (None: such a step logs a warning)."""
        self.settings = settings
        self.worker_id = worker_id
        self.definitions = DefinitionCache()
        # Executions in flight in this process: what its worker threads could run as batches.
        size = settings.queue.concurrency * settings.queue.batch_size
        self.slots = Slots(size)
        self._steps = StepPool(size, "wfconsole-step")
        # Outbound calls of this process: gated by holds and the breaker, counted per
        # destination (engine/outbound/gate.py).
        GATE.configure(db, settings, worker_id, dispatch)
        self._batches = StepPool(size, "wfconsole-batch")
        # Runs claimed under a concurrency limit, until they finish (``_look_at_limited``).
        self._gated: set[str] = set()
        self._gated_lock = threading.Lock()

    def run(self, execution_id: str) -> Outcome:
        """Claim and run one execution to its end or its next retry."""
        return self.run_batch([execution_id])[execution_id]

    def run_batch(self, ids: Sequence[str], *, fill: int = 0) -> dict[str, Outcome]:
        """Claim the due ones of ``ids`` (plus other due executions up to ``fill``), run them.

        Returns an outcome for every id given and every execution claimed besides.
        """
        outcomes: dict[str, Outcome] = {}
        self._batch(ids, fill, outcomes.update, background=False)
        return outcomes

    def start_batch(
        self, ids: Sequence[str], *, fill: int, done: Callable[[dict[str, Outcome]], None]
    ) -> None:
        """``run_batch``, but only the claim runs in the calling thread.

        What was claimed runs on a batch thread, which calls ``done(outcomes)`` at the end:
        a queue worker thread is free for the next message as soon as its claim committed.
        """
        self._batch(ids, fill, done, background=True)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no batch is running in this process (graceful stop)."""
        return self.slots.wait_idle(timeout)

    def close(self) -> None:
        """Let the step and batch threads go (running ones finish on their own)."""
        self._steps.close()
        self._batches.close()
        GATE.stop(self.db)  # this process's last figures are written

    def _batch(
        self,
        ids: Sequence[str],
        fill: int,
        done: Callable[[dict[str, Outcome]], None],
        *,
        background: bool,
    ) -> None:
        todo = list(dict.fromkeys(ids))
        held = self.slots.acquire(max(len(todo), fill))
        attempts: list[Attempt] = []
        try:
            # A pooled connection only while talking to the database, never during steps,
            # so a process needs few connections however many executions it runs.
            with self.db.engine.connect() as conn:
                attempts, outcomes, busy = self._claim(conn, todo, fill, held)
        finally:
            self.slots.release(held - len(attempts))
        if not attempts:
            done(outcomes)
            return
        job = functools.partial(self._run_claimed, attempts, outcomes, busy, fill, done)
        if background:
            self._batches.submit(job)
        else:
            job()

    def _run_claimed(
        self,
        attempts: list[Attempt],
        outcomes: dict[str, Outcome],
        busy: list[str],
        fill: int,
        done: Callable[[dict[str, Outcome]], None],
    ) -> None:
        """Drive the claimed attempts; then claim again the ids that found the cap full."""
        try:
            for claims in range(1, MAX_CLAIMS_PER_CALL + 1):
                try:
                    outcomes.update(self._drive(attempts))
                finally:
                    self.slots.release(len(attempts))
                self._look_at_limited(attempts, outcomes)
                # Ids that found the cap full: this batch has freed slots, so try again
                # now rather than after the queue's re-check delay — unless this was the
                # last claim allowed (what it took must still be driven): their busy
                # outcomes then have the queue look again.
                if not busy or claims == MAX_CLAIMS_PER_CALL:
                    break
                held = self.slots.acquire(max(len(busy), fill))
                attempts = []
                try:
                    with self.db.engine.connect() as conn:
                        attempts, refused, busy = self._claim(conn, busy, fill, held)
                finally:
                    self.slots.release(held - len(attempts))
                outcomes.update(refused)
                if not attempts:
                    break
        except Exception:
            log.exception("batch of %d execution(s) stopped", len(attempts))
            raise
        done(outcomes)

    def _look_at_limited(self, attempts: list[Attempt], outcomes: dict[str, Outcome]) -> None:
        """Runs of limited workflows finished: the runs their limit held are looked at now."""
        with self._gated_lock:
            finished = [a for a in attempts if a.id in self._gated]
            self._gated.difference_update(a.id for a in finished)
        if not finished:
            return
        per_workflow = Counter(a.claimed.workflow_id for a in finished)
        with self.db.engine.connect() as conn:
            waiting = gated_claims.waiting_for_room(conn, dict(per_workflow))
        for execution_id in waiting:
            outcomes[execution_id] = Outcome("NOOP", retry_in=0.0)

    # --- claiming -----------------------------------------------------------------------

    def _claim(
        self, conn: sa.Connection, ids: list[str], fill: int, room: int
    ) -> tuple[list[Attempt], dict[str, Outcome], list[str]]:
        """Claim a batch; returns its attempts, outcomes of what was not claimed, busy ids.

        Never more than ``room`` rows (the slots this call holds): a process holds at most
        ``concurrency * batch_size`` executions, however many ids a message names; the ids
        beyond the room are refused as busy and looked at again shortly.
        """
        now = utcnow()
        cap = self.settings.workflow.max_concurrent_executions
        lease = now + timedelta(seconds=self.settings.workflow.default_timeout) + LEASE_GRACE
        fast = postgres_pipeline.fast_path(conn)
        claim_batch = postgres_pipeline.claim_batch if fast else store.claim_batch
        result = claim_batch(
            conn, ids, now=now, lease_until=lease, worker_id=self.worker_id,
            max_running=cap, fill=fill, most=room,
        )  # fmt: skip
        claimed = result.claimed
        refused = result.refused
        excess = result.excess
        gated = [i for i, refusal in refused.items() if refusal.reason == "gated"]
        if gated:
            # Runs of paused or limited workflows: the gated claim decides, per workflow.
            by_gate = gated_claims.claim_gated(
                conn, gated, now=now, lease_until=lease, worker_id=self.worker_id,
                max_running=cap, most=room - len(claimed),
            )  # fmt: skip
            claimed = claimed + by_gate.claimed
            refused = {**refused, **by_gate.refused}
            with self._gated_lock:
                self._gated.update(by_gate.under_concurrency_limit)
            if by_gate.claimed and conn.dialect.name != "sqlite":
                # Gated claims of other workflows can race ours past the global cap, as
                # plain claims can: read the excess again, now that both committed.
                excess = store.running_excess(conn, cap)
                conn.rollback()  # end the read transaction the check opened
        outcomes: dict[str, Outcome] = {}
        busy: list[str] = []
        for execution_id, refusal in refused.items():
            if refusal.reason == "busy":
                busy.append(execution_id)
                outcomes[execution_id] = Outcome("NOOP", retry_in=_busy_delay(), busy=True)
            elif refusal.reason in ("not_due", "limit") and refusal.available_at is not None:
                # Not due yet, or a rate limit's window is full: look when it opens (a
                # concurrency limit's runs are looked at when a run of theirs finishes).
                wait_s = (refusal.available_at - now).total_seconds()
                if refusal.reason == "limit":
                    wait_s += random.uniform(0.0, 0.25)  # noqa: S311
                outcomes[execution_id] = Outcome("NOOP", retry_in=wait_s)
            else:  # gone, finished, paused (resuming enqueues them), concurrency-limited
                outcomes[execution_id] = Outcome("NOOP")
        if excess:
            # Concurrent claims went over the cap: give back as much as we see in excess,
            # what was taken besides the message's ids first.
            back = [c.id for c in reversed(claimed)][:excess]
            with conn.begin():
                store.give_back(conn, back, worker_id=self.worker_id)
            for execution_id in back:
                busy.append(execution_id)
                outcomes[execution_id] = Outcome("NOOP", retry_in=_busy_delay(), busy=True)
            claimed = [c for c in claimed if c.id not in set(back)]
            with self._gated_lock:
                self._gated.difference_update(back)
        return self._attempts(conn, claimed), outcomes, busy

    def _attempts(self, conn: sa.Connection, claimed: list[store.Claimed]) -> list[Attempt]:
        """Attempts for the claimed rows: definitions, leases, results of finished steps."""
        attempts = [
            Attempt(
                c,
                self.definitions.get(self.db, c.workflow_id, c.workflow_version),
                settings=self.settings,
                db=self.db,
                worker_id=self.worker_id,
                dispatch=self.dispatch,
                emit_event=self.emit_event,
            )
            for c in claimed
        ]
        default = self.settings.workflow.default_timeout
        # The claim leased for the default timeout; the lease is each workflow's + grace.
        leases = {
            a.id: utcnow() + timedelta(seconds=a.definition.timeout) + LEASE_GRACE
            for a in attempts
            if a.definition.timeout != default
        }
        resumed = {a.id: a.next_step for a in attempts if a.next_step > 0}
        finished: dict[str, list[dict[str, Any]]] = {}
        if leases or resumed:
            with conn.begin():
                if leases:
                    store.extend_leases(conn, leases, worker_id=self.worker_id)
                if resumed:
                    finished = store.finished_step_results(conn, resumed)
        for attempt in attempts:
            attempt.begin(finished.get(attempt.id, []))
        return attempts

    # --- running ------------------------------------------------------------------------

    def _drive(self, attempts: list[Attempt]) -> dict[str, Outcome]:
        """Run the attempts step by step, committing finished steps in rounds."""
        outcomes: dict[str, Outcome] = {}
        decided = [a for a in attempts if a.decision is not None]  # e.g. conditions not met
        ready = [a for a in attempts if a.decision is None]
        running: dict[Future[None], Attempt] = {}
        while ready or running or decided:
            if ready:
                # Once per wave of steps, not per step: holds placed before now reach them.
                GATE.refresh()
            if len(ready) == 1 and not running:
                ready[0].run_next_step()  # the only one: no hand-off to another thread
                decided.extend(ready)
            else:
                for attempt in ready:
                    running[self._steps.submit(attempt.run_next_step)] = attempt
            ready = []
            if running and not decided:
                decided = self._collect(running)
            if decided:
                done = self._commit(decided)
                outcomes.update(done)
                ready = [a for a in decided if a.id not in done]
                decided = []
        return outcomes

    @staticmethod
    def _collect(running: dict[Future[None], Attempt]) -> list[Attempt]:
        """Wait for the first step to finish, then briefly for the others; pop the finished."""
        done, pending = wait(running, return_when=FIRST_COMPLETED)
        if pending:
            more, _ = wait(pending, timeout=LINGER_SECONDS)
            done |= more
        finished = []
        for future in done:
            future.result()  # an executor bug surfaces here (actions' own errors never do)
            finished.append(running.pop(future))
        return finished

    def _commit(self, attempts: Iterable[Attempt]) -> dict[str, Outcome]:
        """One transaction for the decisions of ``attempts``; outcomes of those now over."""
        attempts = list(attempts)
        for tries in range(3):
            try:
                with self.db.engine.connect() as conn:
                    if _finishes_only(conn, attempts):
                        # One round trip, no lock first: the finishes are conditional on
                        # the rows being ours and say which were.
                        finished = postgres_pipeline.finish_round(
                            conn, [_item(a) for a in attempts], worker_id=self.worker_id
                        )
                        owned = dict.fromkeys(finished, False)
                        break
                    with _open_round(conn) as round_:
                        owned = round_.lock_owned(
                            [a.id for a in attempts], worker_id=self.worker_id
                        )
                        for attempt in attempts:
                            if owned.get(attempt.id):
                                attempt.cancel_requested()
                        items = [
                            _item(a) for a in attempts if a.id in owned and a.decision is not None
                        ]
                        if items:
                            round_.write(items, worker_id=self.worker_id)
                break
            except (sa.exc.DBAPIError, psycopg.Error) as exc:
                if tries == 2 or not _retryable(exc):
                    raise
                log.warning("commit round hit %s; redoing it", exc)
        outcomes: dict[str, Outcome] = {}
        for attempt in attempts:
            if attempt.id not in owned:
                log.warning("execution %s is no longer ours; stopping", attempt.id)
                outcomes[attempt.id] = Outcome("NOOP")
                continue
            outcome = attempt.committed()
            if outcome is not None:
                outcomes[attempt.id] = outcome
        return outcomes
