"""The process's gate on outbound calls: holds and the breaker, from a cheap snapshot.

``begin_call(destination)`` is called by every action right before each HTTP request or
SMTP send: it raises ``DestinationWaiting`` when the destination is held or its circuit
is open (the attempt then hands the run back to wait, neither failed nor charged a
retry), and lets exactly one probe through an open circuit after its cool-down.
``end_call`` counts the call (``call_stats``) and moves the breaker.

The snapshot of ``destination_state`` is re-read only when the table's generation moved
(``refresh``: one ``SELECT sum(generation)``, which the executor calls before every round
of steps it starts — once per batch and per step wave, not per step). A hold therefore
reaches every step that starts after ``hold`` returned: the step's round read the
generation after the hold committed.

Until ``configure`` is called (the CLI, the API, a dry run), calls are counted in memory
only and nothing is gated. Calls made inside ``ungated()`` (alert notifications: an alert
about an incident must go out while its destination is held) are counted, never held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from engine.config import Settings
from engine.db import Database
from engine.outbound import breaker
from engine.outbound.call_stats import CallStats, Flusher
from engine.outbound.holds import DestinationWaiting, StateRow, generation, read_states
from engine.outbound.holds import release_waiting as _release_waiting
from engine.outbound.tables import utc_now as utcnow

log = logging.getLogger("wfconsole.outbound")


@dataclass
class Call:
    """One outbound call in progress."""

    destination: str
    started: float
    probe: bool = False


_THREAD = threading.local()


@contextmanager
def ungated() -> Iterator[None]:
    """Calls this thread makes inside the block are counted but never held nor refused."""
    before = getattr(_THREAD, "ungated", False)
    _THREAD.ungated = True
    try:
        yield
    finally:
        _THREAD.ungated = before


class OutboundGate:
    """Holds, breaker and call figures for one process (thread-safe)."""

    def __init__(self) -> None:
        self.stats = CallStats()
        self._lock = threading.Lock()
        self._db: Database | None = None
        self._settings: Settings | None = None
        self._worker_id = ""
        self._dispatch: Callable[[list[str]], None] | None = None
        self._flusher: Flusher | None = None
        self._generation: int | None = None
        self._states: dict[str, StateRow] = {}

    def configure(
        self,
        db: Database,
        settings: Settings,
        worker_id: str,
        dispatch: Callable[[list[str]], None] | None = None,
    ) -> None:
        """Gate this process's calls on ``db`` and write its figures there."""
        with self._lock:
            if self._flusher is not None and self._db is not db:
                self._flusher.stop()
                self._flusher = None
            self._db, self._settings, self._worker_id = db, settings, worker_id
            self._dispatch = dispatch
            self._generation = None
            if self._flusher is None:
                self._flusher = Flusher(self.stats, db, worker_id)

    def stop(self, db: Database | None = None) -> None:
        """Write the figures left and stop gating (the process stops); with ``db``, only
        when configured on it."""
        with self._lock:
            if db is not None and self._db is not db:
                return
            flusher, self._flusher = self._flusher, None
            self._db, self._states, self._generation = None, {}, None
        if flusher is not None:
            flusher.stop()

    def flush(self) -> None:
        """Write the changed figures now."""
        flusher = self._flusher
        if flusher is not None:
            flusher.flush()

    def refresh(self) -> None:
        """Re-read the snapshot if the table's generation moved since it was read."""
        db = self._db
        if db is None:
            return
        try:
            with db.engine.connect() as conn:
                current = generation(conn)
                if current == self._generation:
                    return
                states = {row.destination: row for row in read_states(conn)}
        except Exception as exc:  # a blip: the last snapshot stands (the commit will tell)
            log.warning("could not read the destination holds: %s", exc)
            return
        with self._lock:
            self._states, self._generation = states, current

    def _breaker_on(self) -> bool:
        return self._settings is not None and self._settings.outbound.breaker_enabled

    def begin_call(self, destination: str) -> Call:
        """Let a call to ``destination`` start, or raise ``DestinationWaiting``."""
        call = Call(destination, time.monotonic())
        state = self._states.get(destination)
        if state is None or self._db is None or getattr(_THREAD, "ungated", False):
            return call
        now = utcnow()
        if state.held(now):
            raise DestinationWaiting(destination, "held", state.held_until)
        if state.breaker_state == breaker.CLOSED or not self._breaker_on():
            return call
        assert self._settings is not None
        cooldown = self._settings.outbound.breaker_cooldown
        opened = state.opened_at or now
        if state.breaker_state == breaker.OPEN and opened + timedelta(seconds=cooldown) > now:
            raise DestinationWaiting(
                destination, "circuit open", opened + timedelta(seconds=cooldown)
            )
        with self._db.engine.begin() as conn:
            won = breaker.claim_probe(
                conn, destination, worker_id=self._worker_id, cooldown=cooldown, now=now
            )
        if not won:
            raise DestinationWaiting(destination, "circuit open", now + timedelta(seconds=cooldown))
        log.info("circuit of %s half-open: this call is the probe", destination)
        call.probe = True
        return call

    def end_call(
        self,
        call: Call,
        *,
        error: bool,
        transient: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Count the call; move the breaker (a transient failure, or a success)."""
        latency_ms = (time.monotonic() - call.started) * 1000.0
        rate_limited = status == 429
        self.stats.record(
            call.destination,
            latency_ms,
            error=error,
            rate_limited=rate_limited,
            retry_after=retry_after if rate_limited else None,
        )
        if not self._breaker_on() or self._db is None:
            return
        try:
            self._move_breaker(call, failed=error and transient)
        except Exception as exc:  # the breaker is advisory: the call's own result stands
            log.warning("could not record the breaker state of %s: %s", call.destination, exc)

    def _move_breaker(self, call: Call, *, failed: bool) -> None:
        assert self._db is not None and self._settings is not None
        state = self._states.get(call.destination)
        now = utcnow()
        if failed:
            with self._db.engine.begin() as conn:
                opened = breaker.record_failure(
                    conn,
                    call.destination,
                    threshold=self._settings.outbound.breaker_threshold,
                    now=now,
                )
            if opened:
                log.warning("circuit of %s opened", call.destination)
            return
        if not call.probe and (state is None or state.consecutive_failures == 0):
            return  # nothing to reset: no write on the common path
        with self._db.engine.begin() as conn:
            closed = breaker.record_success(conn, call.destination, now=now)
            released = _release_waiting(conn, call.destination, now) if closed else []
        if closed:
            log.warning("circuit of %s closed; %d run(s) released", call.destination, len(released))
            self._enqueue(released)

    def _enqueue(self, ids: Sequence[str]) -> None:
        if ids and self._dispatch is not None:
            try:
                self._dispatch(list(ids))
            except Exception as exc:  # the rows are due: the sweeper enqueues them
                log.warning("could not enqueue %d released run(s): %s", len(ids), exc)


GATE = OutboundGate()
"""This process's gate."""


def begin_call(destination: str) -> Call:
    """``GATE.begin_call``."""
    return GATE.begin_call(destination)


def end_call(
    call: Call,
    *,
    error: bool,
    transient: bool = False,
    status: int | None = None,
    retry_after: float | None = None,
) -> None:
    """``GATE.end_call``."""
    GATE.end_call(call, error=error, transient=transient, status=status, retry_after=retry_after)
