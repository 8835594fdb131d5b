"""The one table of bench/run_all.py: each figure beside its baseline from the same run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BOUND_MS = 1000.0


@dataclass
class Row:
    figure: str
    value: float
    unit: str  # "/s" for rates (more is better), "ms" for times (less is better)
    baseline: str = "-"
    base_value: float | None = None

    def ratio(self) -> str:
        if not self.base_value or not _finite(self.value) or not self.value:
            return "-"
        if self.unit == "ms":
            return f"{self.base_value / self.value:.2f}"
        return f"{self.value / self.base_value:.2f}"

    def cells(self) -> list[str]:
        return [self.figure, _number(self.value, self.unit), self.baseline, self.ratio()]


def _finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _number(value: float | None, unit: str) -> str:
    if not _finite(value):
        return "-"
    assert value is not None
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.0f}{unit}"


def table_rows(results: dict[str, Any], base: dict[str, Any]) -> list[Row]:
    """Every figure with the baseline that bounds it physically."""
    rows: list[Row] = []
    huey = base["huey_noop_per_second"]
    insert, lpush = base["pg_insert"], base["redis"]["lpush"]
    if tp := results.get("throughput"):
        pg = tp["pg"]
        rows.append(
            Row(
                f"executions/s, PostgreSQL + Redis, {pg['consumers']} consumers x "
                f"{pg['threads']} threads",
                pg["executions_per_second"],
                "/s",
                f"raw Huey no-op {huey:,.0f}/s",
                huey,
            )
        )
        floor = insert["p99_ms"] + lpush["p99_ms"]
        rows.append(
            Row(
                f"enqueue→start p99 at {pg['latency_rate']:,.0f}/s (PostgreSQL + Redis)",
                pg["p99_ms"],
                "ms",
                f"INSERT commit p99 + LPUSH p99 {floor:.1f} ms",
                floor,
            )
        )
        if lite := tp.get("sqlite"):
            raw = lite["raw_huey_per_second"]
            rows.append(
                Row(
                    f"executions/s, SQLite + SqliteHuey, embedded x {lite['threads']}",
                    lite["executions_per_second"],
                    "/s",
                    f"raw SqliteHuey no-op {raw:,.0f}/s",
                    raw,
                )
            )
    if real := results.get("real_path"):
        rows.extend(_real_path_rows(real, huey))
    if hooks := results.get("webhooks"):
        bare = hooks.get("uvicorn + Starlette, no work", {}).get("per_second")
        label = f"bare uvicorn 202 {bare:,.0f}/s" if bare else "-"
        for scenario in ("PostgreSQL + Redis", "SQLite + SqliteHuey"):
            if scenario in hooks:
                rows.append(
                    Row(
                        f"webhook accepts/s (signed → 202, committed), {scenario}",
                        hooks[scenario]["per_second"],
                        "/s",
                        label,
                        bare,
                    )
                )
    if console := results.get("console"):
        held = console.get("executions", 0)
        for what in (
            "mount executions → rows shown",
            "status filter → rows shown",
            "end → next page shown",
            "live refresh (newest page)",
        ):
            if figure := console.get(what):
                query = figure.get("query_ms")
                rows.append(
                    Row(
                        f"console at {held / 1e6:.1f}M rows: {what}, p50",
                        figure["p50_ms"],
                        "ms",
                        f"bare keyset query {query:.1f} ms" if query else "-",
                        query,
                    )
                )
    if cleanup := results.get("cleanup"):
        rows.extend(_cleanup_rows(cleanup))
    if seed := results.get("demo_seed", {}).get("postgres"):
        copy = base["pg_copy_rows_per_second"]
        rows.append(
            Row(
                f"`wfconsole demo` seed rows/s ({seed['executions']:,} executions)",
                seed["rows_per_second"],
                "/s",
                f"raw COPY {copy:,.0f} rows/s",
                copy,
            )
        )
    rows.extend(_query_rows(results))
    return rows


def _real_path_rows(real: dict[str, Any], huey: float) -> list[Row]:
    """bench/real_path.py: signed webhooks on new connections through serve to the sink."""
    bare = real.get("baselines", {}).get("asgi", {}).get("per_second")
    cpu = sum(real["cpu_ms_per_execution"].values())
    return [
        Row(
            f"real path executions/s: {real['requests']:,} signed webhooks, new connections,"
            f" {real['consumers']}x{real['workers']} consumers ({cpu:.1f} ms CPU/execution)",
            real["executions_per_second"],
            "/s",
            f"raw Huey no-op {huey:,.0f}/s",
            huey,
        ),
        Row(
            "real path accepts/s (202s over the sending window)",
            real["accepts_per_second"],
            "/s",
            f"bare uvicorn 202, same client {bare:,.0f}/s" if bare else "-",
            bare,
        ),
    ]


def _cleanup_rows(figures: dict[str, Any]) -> list[Row]:
    cleanup, bare = figures["cleanup"], figures["bare_delete"]
    n = figures["executions_seeded"]
    during, before = cleanup["waits"]["during"], cleanup["waits"]["before"]
    worst = max(during["claim_max_ms"], during["commit_max_ms"], cleanup["lock_wait_max_ms"])
    statuses = cleanup["stream_statuses"]
    lost = cleanup["stream_sent"] - statuses.get("SUCCESS", 0)
    return [
        Row(
            f"cleanup rows/s at {n / 1e6:.2f}M executions, workers running",
            cleanup["rows_per_second"],
            "/s",
            f"one bare DELETE, quiet {bare['rows_per_second']:,.0f}/s",
            bare["rows_per_second"],
        ),
        Row(
            f"cleanup batch duration, max (p99 {cleanup['batch_p99_ms']:.0f} ms)",
            cleanup["batch_max_ms"],
            "ms",
        ),
        Row(
            f"worker claim wait p99 during cleanup ({lost} runs lost, dry run "
            f"{'changed nothing' if figures['dry_run']['unchanged'] else 'CHANGED ROWS'})",
            during["claim_p99_ms"],
            "ms",
            f"before cleanup {before['claim_p99_ms']:.1f} ms (no ratio: not a limit)",
        ),
        Row(
            "longest worker wait during cleanup (claim, commit, lock)",
            worst,
            "ms",
            f"done-means bound {BOUND_MS:,.0f} ms (no ratio)",
        ),
    ]


def _query_rows(results: dict[str, Any]) -> list[Row]:
    rows = []
    if dash := results.get("dashboard"):
        rows.append(
            Row(f"dashboard tick at {dash['executions'] / 1e6:.2f}M, median", dash["tick_ms"], "ms")
        )
    if stats := results.get("stats"):
        medians = stats["median_ms"]
        for label in ("whole `wfconsole stats`", "one /metrics scrape"):
            if label in medians:
                rows.append(
                    Row(
                        f"{label} at {stats['executions'] / 1e6:.2f}M, median", medians[label], "ms"
                    )
                )
    if failures := results.get("failures"):
        warm = failures["warm_ms"].get("list_failure_clusters(24h)")
        if warm is not None:
            rows.append(
                Row(
                    f"failure clusters (24 h) at {failures['executions'] / 1e6:.2f}M, warm, "
                    f"{failures.get('unique_errors', 0):,} distinct errors (worst case)",
                    warm,
                    "ms",
                )
            )
    return rows


def print_table(
    machine: dict[str, str], base: dict[str, Any], rows: list[Row], failed: dict[str, str]
) -> None:
    print("\nmachine")
    for key, value in machine.items():
        print(f"  {key:<22} {value}")
    insert, redis = base["pg_insert"], base["redis"]
    print("\nbaselines measured in this run")
    lines = [
        ("raw Huey no-op (Redis, 2 consumers x 4 threads)", base["huey_noop_per_second"], None),
        ("PostgreSQL single-row INSERT commits, 1 connection", insert["per_second"], insert),
        ("PostgreSQL COPY rows (log-shaped, unindexed)", base["pg_copy_rows_per_second"], None),
        ("Redis PING round trips, 1 connection", redis["ping"]["per_second"], redis["ping"]),
        ("Redis LPUSH round trips, 1 connection", redis["lpush"]["per_second"], redis["lpush"]),
    ]
    for label, rate, loop in lines:
        times = f"  p50 {loop['p50_ms']:.2f} ms  p99 {loop['p99_ms']:.2f} ms" if loop else ""
        print(f"  {label:<52} {rate:>10,.0f}/s{times}")
    head = ["figure", "value", "baseline (same run)", "ratio"]
    table = [head] + [row.cells() for row in rows]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(head))]
    print()
    for index, cells in enumerate(table):
        print(
            "  ".join(
                cell.rjust(w) if i in (1, 3) else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print("\nratio: value/baseline for rates, baseline/value for times (1.00 = the physical limit)")
    for name, problem in failed.items():
        print(f"FAILED: {name} ({problem}); run bench/ scripts alone to see why")
