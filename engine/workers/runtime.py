"""A worker's runtime: the queue's tasks, the sweeper loop, ``dispatch()``, embedded workers.

``huey_consumer engine.queue.huey -w N`` lands here: ``engine.queue`` resolves ``huey`` to
``default_queue().huey``, a ``Queue`` built from the configuration (``$WFCONSOLE_CONFIG``
or ./wfconsole.toml or the environment). This is the top of the engine's worker side: it
wires the executor, the trigger that event steps use, the sweeper, the heartbeat and the
periodic housekeeping together.

A worker drops (logging once per kind of problem) any message that is not signed with
the deployment's key or that names anything but ``run_execution`` / ``run_executions``
with id arguments (engine/queue/messages.py, engine/queue/instance.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from huey.consumer import Consumer

from engine.config import Settings, load_settings
from engine.db import Database, DatabaseError, open_database
from engine.execution.decisions import Outcome
from engine.execution.executor import Executor
from engine.process_exit import skip_final_collections
from engine.queue.heartbeat import Heartbeat
from engine.queue.instance import make_huey, queue_was_emptied
from engine.queue.sweeper import sweep
from engine.triggers.new_executions import emit_from_step

log = logging.getLogger("wfconsole.queue")
# The embedded/local consumer polls SQLite this often at most (Huey's default backs off to 10 s).
LOCAL_POLL_SECONDS = 0.02
# A message that found the database unreachable is looked at again this much later.
OUTAGE_RETRY_SECONDS = 2.0
# A sweep that suspects orphans behind a backlog looks again this much later.
SOON_SECONDS = 1.0


class Queue:
    """One deployment's queue: the Huey instance, its tasks, and the worker-side runtime."""

    def __init__(self, settings: Settings, *, db: Database | None = None) -> None:
        self.settings = settings
        self.huey = make_huey(settings, lambda: self.db)
        # A worker takes the messages waiting behind the one it popped, up to a batch of ids.
        self.huey.merge_up_to = settings.queue.batch_size
        self._db = db
        self._executor: Executor | None = None
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()
        self._outage = False  # the last attempt to open the database failed (and said so)
        self._queue_emptied = False  # the queue lost its messages; the next sweep looks
        self.look_again_soon = False  # the last sweep suspects orphans behind a backlog
        self.heartbeat = Heartbeat(lambda: self.db, settings.queue.heartbeat_interval)
        self._register_tasks()

    @property
    def worker_id(self) -> str:
        """What this process's claims record: its heartbeat's id (``host:pid:tag``)."""
        return self.heartbeat.own_id()

    # --- producer side ------------------------------------------------------------------

    def dispatch(self, execution_id: str, delay: float | None = None) -> None:
        """Ask a worker to look at an execution (now, or after ``delay`` seconds)."""
        if delay and delay > 0:
            self.run_execution.schedule(args=(execution_id,), delay=delay)
        else:
            self.run_execution(execution_id)

    def dispatch_many(self, execution_ids: Sequence[str], delay: float | None = None) -> None:
        """Ask workers to look at several executions: one message per ``queue.batch_size`` ids.

        A worker claims, runs and commits the ids of one message together.
        """
        size = self.settings.queue.batch_size
        for start in range(0, len(execution_ids), size):
            chunk = list(execution_ids[start : start + size])
            if len(chunk) == 1:
                self.dispatch(chunk[0], delay)
            elif delay and delay > 0:
                self.run_executions.schedule(args=(chunk,), delay=delay)
            else:
                self.run_executions(chunk)

    def redis_messages(self, execution_ids: Sequence[str]) -> tuple[str, list[bytes]] | None:
        """The Redis list and the messages ``dispatch_many(execution_ids)`` would push, in
        order, for a caller that sends them in a pipeline with other commands (one round
        trip: ``LPUSH list *messages``); None when the queue is not a Redis list (SQLite,
        or Huey's immediate mode): then call ``dispatch_many``."""
        from huey.storage import RedisStorage

        storage = self.huey.storage
        if self.huey.immediate or not isinstance(storage, RedisStorage):
            return None
        size = self.settings.queue.batch_size
        messages = []
        for start in range(0, len(execution_ids), size):
            chunk = list(execution_ids[start : start + size])
            task = (
                self.run_execution.s(chunk[0]) if len(chunk) == 1 else self.run_executions.s(chunk)
            )
            messages.append(self.huey.serialize_task(task))
        return storage.queue_key, messages

    def depth(self) -> dict[str, int]:
        """Messages waiting now and scheduled for later."""
        return {"queued": self.huey.pending_count(), "scheduled": self.huey.scheduled_count()}

    # --- worker side --------------------------------------------------------------------

    @property
    def db(self) -> Database:
        """The worker's database, opened on first use.

        A failed open is not kept: the next use tries again. An outage is logged once when
        it starts and once when it ends, however many tasks meet it.
        """
        with self._lock:
            if self._db is None:
                try:
                    self._db = open_database(self.settings)
                except DatabaseError as exc:
                    if not self._outage:
                        log.warning("database unavailable, retrying on the next use: %s", exc)
                    self._outage = True
                    raise
                if self._outage:
                    log.warning("database available again")
                    self._outage = False
            return self._db

    @property
    def executor(self) -> Executor:
        """The process's executor, created on first use."""
        db = self.db
        with self._lock:
            if self._executor is None:
                self._executor = Executor(
                    db,
                    self.settings,
                    self.worker_id,
                    dispatch=self.dispatch_many,
                    emit_event=emit_from_step,
                )
            return self._executor

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no batch started by this process's workers is running."""
        with self._lock:
            executor = self._executor
        return executor is None or executor.wait_idle(timeout)

    def close_executor(self) -> None:
        """Let the executor's step threads go (a stopped worker runs no more steps)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.close()

    def handle(self, execution_id: str) -> Outcome:
        """What the task does for one id (see ``handle_many``)."""
        return self.handle_many([execution_id])[execution_id]

    def handle_many(self, execution_ids: Sequence[str]) -> dict[str, Outcome]:
        """Run a message's executions as one batch, then schedule whatever comes next.

        The batch is topped up with other due executions (up to ``queue.batch_size``), so
        a backlog of one-id messages is still run in batches; their own messages then
        find nothing to claim.
        """
        outcomes = self.executor.run_batch(execution_ids, fill=self.settings.queue.batch_size)
        self.schedule(outcomes)
        return outcomes

    def start(self, execution_ids: Sequence[str]) -> None:
        """What the tasks do: ``handle_many``, but the worker thread is free after the claim.

        The batch runs on a batch thread of the executor, which schedules what comes next.
        No top-up (``fill``): the ids of the messages waiting behind this one come with it
        (``dequeue`` merges them), and topping up with rows that have messages of their own
        only made those messages' claims come back empty.
        """
        fill = 0
        try:
            executor = self.executor
        except DatabaseError:  # logged once per outage by ``db``; the rows stay PENDING
            self._look_again_later(execution_ids)
            return
        executor.start_batch(execution_ids, fill=fill, done=self._schedule_logged)

    def _look_again_later(self, execution_ids: Sequence[str]) -> None:
        # Sooner than the sweeper, which re-enqueues a PENDING row only once 30 s overdue.
        try:
            self.dispatch_many(execution_ids, delay=OUTAGE_RETRY_SECONDS)
        except Exception:  # the queue is down too: the sweeper enqueues them later
            log.debug("could not re-enqueue %d execution(s)", len(execution_ids))

    def _schedule_logged(self, outcomes: dict[str, Outcome]) -> None:
        try:
            self.schedule(outcomes)
        except Exception:  # the queue is down: the sweeper finds these rows later
            log.exception("could not schedule the next look at %d execution(s)", len(outcomes))

    def schedule(self, outcomes: dict[str, Outcome]) -> None:
        """Enqueue what the outcomes ask for: retries when due, a re-check when the cap was full."""
        busy = []
        for execution_id, outcome in outcomes.items():
            if outcome.retry_in is None:
                continue
            if outcome.busy:
                busy.append(execution_id)  # the cap was full: one message looks again
            else:
                self.dispatch(execution_id, delay=max(outcome.retry_in, 0.0))
        if busy:
            self.dispatch_many(busy, delay=max(outcomes[i].retry_in or 0.0 for i in busy))

    def _register_tasks(self) -> None:
        queue = self

        @self.huey.task(name="run_execution")
        def run_execution(execution_id: str) -> None:
            queue.start([execution_id])

        @self.huey.task(name="run_executions")
        def run_executions(execution_ids: list[str]) -> None:
            queue.start(execution_ids)

        @self.huey.on_shutdown(name="wfconsole_batches")
        def finish_batches() -> None:
            # A graceful stop lets the batches the worker threads started run to the end.
            queue.wait_idle()

        @self.huey.on_startup(name="wfconsole_sweeper")
        def start_sweeper() -> None:
            queue.start_sweeper()

        @self.huey.on_startup(name="wfconsole_outbound_guard")
        def check_outbound_guard() -> None:
            # At start, not at the first step: a broken guard is said once, up front.
            # (Imported here: httpx costs commands that never start a worker 0.2 s.)
            from engine.security.outbound import BlockedTarget, verify_guard

            try:
                verify_guard()
            except BlockedTarget as exc:
                log.error("%s; every outbound step will fail until this is fixed", exc)

        @self.huey.on_startup(name="wfconsole_heartbeat")
        def start_heartbeat() -> None:
            queue.heartbeat.worker_started()

        @self.huey.on_shutdown(name="wfconsole_heartbeat")
        def stop_heartbeat() -> None:
            queue.heartbeat.worker_stopped()

        self.run_execution = run_execution
        self.run_executions = run_executions

    def sweep_once(self) -> int:
        """One sweeper pass; enqueues what it found and returns how many.

        ``look_again_soon`` says whether the next pass should come sooner than
        ``queue.sweep_interval`` (orphans of a death may wait behind a backlog)."""
        # A Redis that restarted without persistence lost every message it held: their
        # rows are looked at now rather than once 30 s overdue. (Kept until a pass ends:
        # a pass that fails, say on a database outage, must not lose the news.)
        self._queue_emptied = self._queue_emptied or queue_was_emptied(self.huey, self.settings)
        try:
            depth = self.huey.pending_count()
            if self._queue_emptied:  # the first pass of a new queue: messages held for later
                depth += self.huey.scheduled_count()  # count too (an outage's, a retry's)
        except Exception:  # queue unreachable: recover what we can, duplicates are harmless
            depth = 0
        # A message carries up to batch_size ids: that many rows may wait behind each one.
        report = sweep(
            self.db,
            queue_depth=depth * self.settings.queue.batch_size,
            heartbeat_interval=self.settings.queue.heartbeat_interval,
            queue_emptied=self._queue_emptied,
        )
        self._queue_emptied = False
        self.look_again_soon = report.look_again_soon
        self.dispatch_many(report.enqueue)
        return len(report.enqueue)

    def start_sweeper(self) -> None:
        """Start this process's sweeper thread (once, however many workers start)."""
        with self._lock:
            if self._sweeper is not None and self._sweeper.is_alive():
                return
            self._stop.clear()
            self._sweeper = threading.Thread(
                target=self._sweep_loop, name="wfconsole-sweeper", daemon=True
            )
            self._sweeper.start()

    def _sweep_loop(self) -> None:
        from engine.workers.housekeeping import PeriodicWork

        periodic: PeriodicWork | None = None
        # The first pass at once: a consumer started after a crash takes back what the
        # dead ones held (and ticks cron) without waiting a whole interval.
        wait = 0.0
        while not self._stop.wait(wait):
            wait = self.settings.queue.sweep_interval
            try:  # the database may be down at start: opening it is retried every pass
                self.sweep_once()
                if periodic is None:
                    periodic = PeriodicWork(self.db, self.settings, self)
            except DatabaseError:  # could not open it: ``db`` logged the outage once
                pass
            except Exception:  # keep sweeping: a database blip must not stop recovery
                log.exception("sweeper pass failed")
            if periodic is not None:
                periodic.run(queue_counter=self.huey)  # cron tick, alerts, daily cleanup
            if self.look_again_soon:
                wait = min(wait, SOON_SECONDS)

    def stop_sweeper(self) -> None:
        """Stop the sweeper thread."""
        self._stop.set()

    def consumer(self, workers: int | None = None, **options: Any) -> Consumer:
        """A Huey consumer for this queue; local queues poll fast instead of backing off."""
        options.setdefault("worker_type", "thread")
        options.setdefault("graceful_signal", "TERM")
        if not self.settings.uses_redis:
            options.setdefault("initial_delay", LOCAL_POLL_SECONDS)
            options.setdefault("backoff", 1.0)
            options.setdefault("max_delay", LOCAL_POLL_SECONDS)
        return self.huey.create_consumer(
            workers=workers or self.settings.queue.concurrency, **options
        )


class EmbeddedWorker:
    """A consumer running in threads inside the console or ``serve`` (local queue)."""

    def __init__(self, queue: Queue, workers: int | None = None) -> None:
        self.queue = queue
        self._consumer = queue.consumer(workers, check_worker_health=False)
        queue.heartbeat.kind = "embedded"

    def start(self) -> None:
        """Start the worker threads and the sweeper (no signal handlers: not the main loop)."""
        consumer = self._consumer
        consumer.scheduler.start()
        for _, worker in consumer.worker_threads:
            worker.start()
        self.queue.start_sweeper()

    def __enter__(self) -> EmbeddedWorker:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Let running steps finish (up to ``timeout``), then stop."""
        self.queue.stop_sweeper()
        consumer = self._consumer
        consumer.stop_flag.set()
        deadline = time.monotonic() + timeout
        for _, worker in consumer.worker_threads:
            worker.join(max(0.0, deadline - time.monotonic()))
        consumer.scheduler.join(max(0.0, deadline - time.monotonic()))
        if self.queue.wait_idle(max(0.0, deadline - time.monotonic())):
            self.queue.close_executor()


_default: Queue | None = None
_default_lock = threading.Lock()


def default_queue() -> Queue:
    """The queue of the ambient configuration (what ``huey_consumer`` uses)."""
    global _default
    with _default_lock:
        if _default is None:
            from engine.error_reporting import init_sentry

            settings = load_settings()
            init_sentry(settings)  # huey_consumer never passes through `wfconsole worker`
            skip_final_collections()  # nor through the CLI's entry point
            _default = Queue(settings)
        return _default


__all__ = ["EmbeddedWorker", "Queue", "default_queue"]
