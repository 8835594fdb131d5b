"""The benchmark's printed table and settings."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from dataclasses import dataclass, field
from typing import Any

from bench._profile import print_profile


def _ms(value: float) -> str:
    return f"{value:.1f}" if value == value else "-"  # NaN-safe


@dataclass
class Row:
    scenario: str
    rate: float
    raw: float | None = None
    p50: float = float("nan")
    p99: float = float("nan")
    note: str = ""

    def cells(self) -> list[str]:
        ratio = f"{self.rate / self.raw:.2f}" if self.raw else "-"
        raw = f"{self.raw:,.0f}" if self.raw else "-"
        return [
            self.scenario,
            f"{self.rate:,.0f}",
            raw,
            ratio,
            _ms(self.p50),
            _ms(self.p99),
            self.note,
        ]


def _split_line(label: str, lat: Any) -> str:
    (t50, t99), (q50, q99) = lat.trigger_ms, lat.pickup_ms
    return (
        f"{label}: enqueue→start split, p50/p99 ms: the trigger call (insert, audit, COMMIT, "
        f"enqueue) {_ms(t50)} / {_ms(t99)}; then queue + claim {_ms(q50)} / {_ms(q99)}"
    )


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    profile: tuple[Any, ...] | None = None
    load_at_start: tuple[float, ...] = field(default_factory=os.getloadavg)
    figures: dict[str, Any] = field(default_factory=dict)
    """The headline figures per scenario, for ``--json``."""

    def pg(
        self,
        args: Any,
        raw: Any,
        commits: dict[str, Any],
        sync: str,
        tp: Any,
        lat: Any,
        before: dict[str, int],
        after: dict[str, int],
    ) -> None:
        c, t = args.consumers, args.threads
        self.figures["pg"] = {
            "consumers": c,
            "threads": t,
            "executions": tp.count,
            "executions_per_second": tp.per_second,
            "raw_huey_per_second": raw.per_second,
            "latency_rate": lat.rate,
            "p50_ms": lat.p50_ms,
            "p99_ms": lat.p99_ms,
            "max_ms": lat.max_ms,
            "not_success": tp.not_success,
            "cpu_ms_per_execution": sum(tp.cpu.values()) / tp.count * 1000,
            "raw_pg_commits": {m: r.transactions_per_second for m, r in commits.items()},
        }
        self.rows.append(
            Row(
                f"A  engine, PostgreSQL + Redis, {c} consumers x {t} threads",
                tp.per_second,
                raw.per_second,
                lat.p50_ms,
                lat.p99_ms,
                f"latency at {lat.rate:,.0f}/s (paced), n={lat.count}",
            )
        )
        self.rows.append(_raw_row(f"RedisHuey, {c} consumers x {t} threads", raw))
        for mode, rate in commits.items():
            self.rows.append(
                Row(
                    f"   raw PostgreSQL INSERT;UPDATE;UPDATE x2 conns, sync_commit={mode}",
                    rate.transactions_per_second,
                    None,
                    rate.commit_p50_ms,
                    rate.commit_p99_ms,
                    "latency columns: one autocommit statement",
                )
            )
        self.lines.append(
            f"A: {tp.count} executions inserted+enqueued in {tp.enqueue_seconds:.2f}s "
            f"({tp.count / tp.enqueue_seconds:,.0f}/s, run_workflow count={args.batch}); all "
            f"final after {tp.seconds:.2f}s; not SUCCESS: {tp.not_success}; latency max "
            f"{_ms(lat.max_ms)} ms"
        )
        self.lines.append(_split_line("A", lat))
        self.lines.append(_leftover_line("A", tp))
        self.lines.append(_cpu_line("A  engine", tp.cpu, tp.count, "execution"))
        self.lines.append(_cpu_line("A  raw no-op drain", raw.cpu, raw.count, "task"))
        self.lines.append(f"A: PostgreSQL server synchronous_commit={sync}")
        self.lines.append(_sink_line("A", before, after))

    def sqlite(
        self,
        args: Any,
        raw: Any,
        tp: Any,
        lat: Any,
        idle: Any,
        before: dict[str, int],
        after: dict[str, int],
    ) -> None:
        t = args.local_threads
        self.figures["sqlite"] = {
            "threads": t,
            "executions": tp.count,
            "executions_per_second": tp.per_second,
            "raw_huey_per_second": raw.per_second,
            "latency_rate": lat.rate,
            "p50_ms": lat.p50_ms,
            "p99_ms": lat.p99_ms,
            "idle_max_ms": idle.max_ms,
            "not_success": tp.not_success,
        }
        self.rows.append(
            Row(
                f"B  engine, SQLite + SqliteHuey, embedded worker x {t} threads",
                tp.per_second,
                raw.per_second,
                lat.p50_ms,
                lat.p99_ms,
                f"latency at {lat.rate:,.0f}/s, n={lat.count}",
            )
        )
        self.rows.append(
            Row(
                f"   same, one run after each {args.idle_seconds:g}s idle spell",
                float("nan"),
                None,
                idle.p50_ms,
                idle.p99_ms,
                f"n={idle.count}, max {_ms(idle.max_ms)} ms",
            )
        )
        self.rows.append(_raw_row(f"SqliteHuey, in-process x {t} threads", raw))
        self.lines.append(
            f"B: {tp.count} executions inserted+enqueued in {tp.enqueue_seconds:.2f}s "
            f"({tp.count / tp.enqueue_seconds:,.0f}/s); all final after {tp.seconds:.2f}s; "
            f"not SUCCESS: {tp.not_success}; latency max {_ms(lat.max_ms)} ms"
        )
        self.lines.append(_split_line("B", lat))
        self.lines.append(_leftover_line("B", tp))
        self.lines.append(_cpu_line("B  engine", tp.cpu, tp.count, "execution"))
        self.lines.append(_cpu_line("B  raw no-op drain", raw.cpu, raw.count, "task"))
        self.lines.append(_sink_line("B", before, after))

    def print(self, args: Any) -> None:
        head = ["scenario", "exec/s", "raw Huey/s", "ratio", "p50 ms", "p99 ms", "notes"]
        table = [head] + [row.cells() for row in self.rows]
        table = [[cell.replace("nan", "-") for cell in cells] for cells in table]
        widths = [max(len(cells[i]) for cells in table) for i in range(len(head))]
        print()
        for i, cells in enumerate(table):
            print(
                "  ".join(
                    cell.ljust(w) if j in (0, 6) else cell.rjust(w)
                    for j, (cell, w) in enumerate(zip(cells, widths, strict=True))
                )
            )
            if i == 0:
                print("  ".join("-" * w for w in widths))
        print(
            "\nexec/s = N executions, first trigger -> last completion (rows' timestamps); "
            "raw Huey/s = drain rate of N queued no-op tasks on the same broker and workers"
        )
        print("p50/p99 = enqueue→start (started_at - created_at of the execution rows)")
        for line in self.lines:
            print(line)
        print(
            f"\nsettings: executions={args.executions} consumers={args.consumers} "
            f"threads/consumer={args.threads} local threads={args.local_threads} "
            f"batch={args.batch} workflow.max_concurrent_executions={args.max_running} "
            "security.allow_private_targets=true"
            + (f" consumer PGOPTIONS={args.pgoptions!r}" if args.pgoptions else "")
            + (f" consumer module={args.consumer_module}" if args.consumer_module else "")
        )
        versions = ", ".join(
            f"{p} {importlib.metadata.version(p)}"
            for p in ("huey", "SQLAlchemy", "psycopg", "httpx", "redis")
        )
        load = ", ".join(f"{v:.1f}" for v in self.load_at_start)
        print(
            f"load average at start: {load}; at end: "
            f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (other work on the machine skews "
            "every figure)"
        )
        if self.profile is not None:
            print_profile(*self.profile)
        print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {versions}")


def _leftover_line(scenario: str, tp: Any) -> str:
    if not tp.leftover:
        return f"{scenario}: no messages were left queued after the last completion"
    return (
        f"{scenario}: {tp.leftover} messages were still queued after the last completion "
        f"(sweeper re-enqueues of rows PENDING > 30 s); draining them took "
        f"{tp.leftover_seconds:.1f}s, before the latency phase"
    )


def _cpu_line(what: str, cpu: dict[str, float], count: int, unit: str) -> str:
    parts = ", ".join(f"{name} {seconds / count * 1000:.2f}" for name, seconds in cpu.items())
    total = sum(cpu.values()) / count * 1000
    cpus = os.cpu_count() or 1
    return (
        f"{what}: CPU ms per {unit}: {parts}; total {total:.2f} ms "
        f"(so {cpus} CPUs allow at most {cpus * 1000 / total:,.0f}/s)"
    )


def _raw_row(what: str, raw: Any) -> Row:
    note = (
        f"drain of {raw.count} queued; end to end {raw.e2e_per_second:,.0f}/s "
        f"(enqueue alone {raw.count / raw.enqueue_seconds:,.0f}/s)"
    )
    return Row(f"   raw Huey no-op, {what}", raw.per_second, None, note=note)


def _sink_line(scenario: str, before: dict[str, int], after: dict[str, int]) -> str:
    requests = after["requests"] - before["requests"]
    keys = after["keys"] - before["keys"]
    repeats = after["repeats"] - before["repeats"]
    return (
        f"{scenario}: sink saw {requests} requests, {keys} distinct Idempotency-Keys, "
        f"{repeats} repeated keys"
    )
