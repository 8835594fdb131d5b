"""``GET /metrics``: the engine's figures in the Prometheus text format (prometheus-client).

A custom collector reads them at scrape time, each from something small or an index, so
a scrape every few seconds stays cheap at millions of executions: queue depth from the
queue (Huey's pending and scheduled counts), running and pending executions from
``idx_execution_active``, lifetime totals from the workflow counters, the last hour's
outcomes, success ratio, mean and p95 duration from ``idx_execution_completed``, and live
workers from their heartbeat rows, per destination the calls and errors of the day, holds
and open circuits (``destination_minute`` since midnight, ``destination_state``), and
per workflow whether it is paused. A
database or queue that does not answer turns its ``wfconsole_up`` sample to 0 instead of
failing the scrape.

The workflow cache's hits and misses (engine/workflow_cache/cache.py) are this process's own
counts, by kind of lookup: each ``serve`` process reports its webhook lookups, so sum
them across processes. (The executor's cache of definition versions, in the workers,
is not counted: versions never change, so it only ever misses once per version.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from engine.db import Database
from engine.services.destinations import destination_metrics
from engine.services.metrics import QueueCounter, active_executions, period_summary
from engine.services.statistics import duration_figures, workflow_totals
from engine.services.workers import list_workers
from engine.services.workflow_list import flow_states
from engine.workflow_cache.cache import CacheStats

log = logging.getLogger("wfconsole.http")
PREFIX = "wfconsole"


def _gauge(name: str, documentation: str, value: float | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def _database_figures(db: Database, *, now: datetime, heartbeat_interval: float) -> list[Metric]:
    metrics: list[Metric] = []
    active = active_executions(db, now=now)
    executions = GaugeMetricFamily(
        f"{PREFIX}_executions", "Unfinished executions in the database, by status.",
        labels=["status"],
    )  # fmt: skip
    executions.add_metric(["RUNNING"], active.running)
    executions.add_metric(["PENDING"], active.pending)
    metrics.append(executions)
    metrics.append(
        _gauge("executions_delayed", "PENDING executions not due yet (retry back-off).",
               active.pending_later)
    )  # fmt: skip
    totals = workflow_totals(db)
    metrics.append(_gauge("workflows", "Workflows defined.", totals.workflows))
    metrics.append(_gauge("workflows_enabled", "Workflows enabled.", totals.enabled))
    for name, value, documentation in (
        ("executions_finished", totals.finished, "Executions that reached a final state."),
        ("executions_succeeded", totals.succeeded, "Executions that ended SUCCESS."),
        ("executions_failed", totals.failed, "Executions that ended FAILED."),
    ):
        counter = CounterMetricFamily(
            f"{PREFIX}_{name}",
            f"{documentation} Sum of the workflow counters (a deleted workflow takes its "
            "share with it).",
            value=value,
        )
        metrics.append(counter)
    hour = period_summary(db, now=now, hours=1)
    outcomes = GaugeMetricFamily(
        f"{PREFIX}_executions_last_hour",
        "Executions finished in the last hour, by final status.",
        labels=["status"],
    )
    for status, count in (
        ("SUCCESS", hour.succeeded),
        ("FAILED", hour.failed),
        ("CANCELLED", hour.cancelled),
        ("SKIPPED", hour.skipped),
    ):
        outcomes.add_metric([status], count)
    metrics.append(outcomes)
    if hour.success_rate is not None:
        metrics.append(
            _gauge("success_ratio_last_hour", "SUCCESS / (SUCCESS + FAILED) in the last hour.",
                   hour.success_rate)
        )  # fmt: skip
    durations = duration_figures(db, now=now, hours=1)
    if durations.avg_ms is not None:
        metrics.append(
            _gauge("execution_duration_avg_seconds",
                   "Mean duration of SUCCESS and FAILED runs finished in the last hour.",
                   durations.avg_ms / 1000)
        )  # fmt: skip
    if durations.p95_ms is not None:
        metrics.append(
            _gauge("execution_duration_p95_seconds",
                   "95th percentile duration of SUCCESS and FAILED runs of the last hour.",
                   durations.p95_ms / 1000)
        )  # fmt: skip
    workers = list_workers(db, now=now, interval=heartbeat_interval)
    metrics.append(
        _gauge("workers_alive", "Worker processes seen within 3 heartbeat intervals.",
               sum(1 for worker in workers if worker.alive))
    )  # fmt: skip
    return metrics


def _destination_figures(db: Database, *, now: datetime) -> list[Metric]:
    """Per destination (``host[:port]``): calls and errors today, held, circuit open."""
    calls = CounterMetricFamily(
        f"{PREFIX}_destination_calls",
        "Outbound calls (HTTP requests, SMTP sends) per destination since 00:00 UTC (the "
        "counter resets at midnight).",
        labels=["destination"],
    )
    errors = CounterMetricFamily(
        f"{PREFIX}_destination_errors",
        "Outbound calls that failed (errors, timeouts, HTTP 4xx/5xx) per destination since "
        "00:00 UTC.",
        labels=["destination"],
    )
    held = GaugeMetricFamily(
        f"{PREFIX}_destination_held", "1 while the destination is held.", labels=["destination"]
    )
    circuit = GaugeMetricFamily(
        f"{PREFIX}_destination_circuit_open",
        "1 while the destination's circuit breaker is open or half-open.",
        labels=["destination"],
    )
    for row in destination_metrics(db, now=now):
        calls.add_metric([row.destination], row.calls_today)
        errors.add_metric([row.destination], row.errors_today)
        held.add_metric([row.destination], 1 if row.held else 0)
        circuit.add_metric([row.destination], 1 if row.circuit_open else 0)
    return [calls, errors, held, circuit]


def _flow_figures(db: Database) -> list[Metric]:
    """Per workflow: 1 while it is paused (``wfconsole workflow pause``), else 0."""
    paused = GaugeMetricFamily(
        f"{PREFIX}_workflow_paused",
        "1 while the workflow is paused (triggers accepted, runs held), else 0.",
        labels=["workflow"],
    )
    for state in flow_states(db):
        paused.add_metric([state.workflow], 1 if state.paused else 0)
    return [paused]


def _cache_figures(stats: CacheStats) -> list[Metric]:
    kinds = sorted(set(stats.hits) | set(stats.misses))
    hits = CounterMetricFamily(
        f"{PREFIX}_definition_cache_hits",
        "Workflow lookups this process answered from the workflow cache, by kind.",
        labels=["kind"],
    )
    misses = CounterMetricFamily(
        f"{PREFIX}_definition_cache_misses",
        "Workflow lookups this process read from the database, by kind.",
        labels=["kind"],
    )
    for kind in kinds:
        hits.add_metric([kind], stats.hits.get(kind, 0))
        misses.add_metric([kind], stats.misses.get(kind, 0))
    metrics: list[Metric] = [
        hits,
        misses,
        _gauge("definition_cache_enabled", "1 when cache.enabled and cache.ttl > 0.",
               1 if stats.enabled else 0),
    ]  # fmt: skip
    if stats.hit_ratio is not None:
        metrics.append(
            _gauge("definition_cache_hit_ratio", "Hits / lookups of this process since it started.",
                   stats.hit_ratio)
        )  # fmt: skip
    return metrics


def scrape(
    db: Database,
    queue: QueueCounter | None,
    *,
    now: datetime | None = None,
    heartbeat_interval: float = 5.0,
) -> list[Metric]:
    """Every metric family at ``now``; never raises (a failing side reports ``up`` 0)."""
    now = now or datetime.now(UTC)
    metrics: list[Metric] = []
    up = GaugeMetricFamily(
        f"{PREFIX}_up", "Whether the database and the queue answered this scrape.",
        labels=["component"],
    )  # fmt: skip
    try:
        metrics += _database_figures(db, now=now, heartbeat_interval=heartbeat_interval)
        metrics += _destination_figures(db, now=now)
        metrics += _flow_figures(db)
        up.add_metric(["database"], 1)
    except Exception:  # a scrape reports the outage rather than failing
        log.warning("metrics: the database did not answer", exc_info=True)
        up.add_metric(["database"], 0)
    if queue is not None:
        try:
            queued, scheduled = queue.pending_count(), queue.scheduled_count()
        except Exception:  # as above
            log.warning("metrics: the queue did not answer", exc_info=True)
            up.add_metric(["queue"], 0)
        else:
            up.add_metric(["queue"], 1)
            depth = GaugeMetricFamily(
                f"{PREFIX}_queue_depth",
                "Queue messages: waiting to be picked up (queued) and delayed (scheduled).",
                labels=["state"],
            )
            depth.add_metric(["queued"], queued)
            depth.add_metric(["scheduled"], scheduled)
            metrics.append(depth)
    metrics += _cache_figures(db.workflow_cache.stats())
    metrics.append(up)
    return metrics


class EngineCollector(Collector):
    """Reads the engine's figures each time Prometheus scrapes."""

    def __init__(
        self, db: Database, queue: QueueCounter | None, *, heartbeat_interval: float
    ) -> None:
        self.db = db
        self.queue = queue
        self.heartbeat_interval = heartbeat_interval

    def collect(self) -> Iterable[Metric]:
        """The metric families of one scrape."""
        return scrape(self.db, self.queue, heartbeat_interval=self.heartbeat_interval)


def metrics_registry(
    db: Database, queue: QueueCounter | None, *, heartbeat_interval: float
) -> CollectorRegistry:
    """A registry of its own (not the process-global one) holding the engine collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(db, queue, heartbeat_interval=heartbeat_interval))
    return registry


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the Prometheus text exposition of the receiver's deployment."""
    state = request.app.state
    registry: CollectorRegistry | None = getattr(state, "metrics_registry", None)
    if registry is None:
        receiver = state.receiver
        # The deployment's Huey counts messages; a queue without one reports none.
        queue = getattr(receiver.queue, "huey", None)
        registry = metrics_registry(
            receiver.db, queue, heartbeat_interval=receiver.settings.queue.heartbeat_interval
        )
        state.metrics_registry = registry
    # The text format 0.0.4 by default; OpenMetrics when the scraper asks for it.
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    body = await run_in_threadpool(encoder, registry)
    return Response(body, headers={"Content-Type": content_type})
