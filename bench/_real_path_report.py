"""bench/real_path.py's report: the figures beside their baselines, and the CPU of every process."""

from __future__ import annotations

from typing import Any

from bench import _profile
from bench._real_path_deployment import FINAL, WORKFLOW  # noqa: F401

# --------------------------------------------------------------------------- report


def print_report(machine: dict[str, str], base: dict[str, Any], fig: dict[str, Any]) -> None:
    print("machine")
    for key, value in machine.items():
        print(f"  {key:<22} {value}")
    n = fig["executions"]
    print(
        f"\nreal path: {fig['requests']:,} signed webhooks (new connection each, "
        f"{fig['threads']} client threads) → wfconsole serve --workers "
        f"{fig.get('serve_workers', 1)} → PostgreSQL + Redis → "
        f"{fig['consumers']} consumers x {fig['workers']} threads → POST to sink "
        f"(max_concurrent_executions {fig['max_running']})"
    )
    asgi = base.get("asgi", {})
    huey = base.get("huey", {})
    pg = base.get("pg_insert", {})

    def beside(value: float, floor: float | None, label: str) -> str:
        if not floor:
            return ""
        return f"   | {label} {floor:,.0f}/s, ratio {value / floor:.2f}"

    print(
        f"  accepts/s (202s over the sending window, {fig['send_seconds']:.2f} s)"
        f"{'':>4}{fig['accepts_per_second']:>9,.0f}/s"
        + beside(fig["accepts_per_second"], asgi.get("per_second"), "bare uvicorn 202")
    )
    print(
        f"  accept latency p50 / p99 / max{'':>28}{fig['accept_p50_ms']:.1f} / "
        f"{fig['accept_p99_ms']:.1f} / {fig['accept_max_ms']:.1f} ms"
        + (
            f"   | bare uvicorn p50 / p99 {asgi['p50_ms']:.1f} / {asgi['p99_ms']:.1f} ms"
            if asgi
            else ""
        )
    )
    print(
        f"  executions/s (first request → last run final, {fig['run_seconds']:.2f} s)"
        f"{'':>2}{fig['executions_per_second']:>9,.0f}/s"
        + beside(fig["executions_per_second"], huey.get("per_second"), "raw Huey no-op")
    )
    print(
        f"  accept → final p50 / p99 (created_at → completed_at){'':>6}"
        f"{fig['accept_to_final_p50_ms']:.1f} / {fig['accept_to_final_p99_ms']:.1f} ms"
        f"\n  enqueue → start p50 / p99 (created_at → started_at, runs not skipped)"
        f"{'':>4}{fig['enqueue_to_start_p50_ms']:.1f} / {fig['enqueue_to_start_p99_ms']:.1f} ms"
        + (f"  (paced at {fig['rate']:.0f} requests/s)" if fig.get("rate") else "")
    )
    if pg:
        print(
            f"  PostgreSQL single-row INSERT commits, 1 connection{'':>9}"
            f"{pg['per_second']:>9,.0f}/s   p50 {pg['p50_ms']:.2f} ms, p99 {pg['p99_ms']:.2f} ms"
        )
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(fig["statuses"].items()))
    want = fig["expected"]
    print(
        f"  executions by status: {statuses} (of {n:,}; {fig['retried']} retried; expected "
        f"SKIPPED {want['SKIPPED']:,}, SUCCESS {want['SUCCESS']:,}: "
        f"{'ok' if fig['as_expected'] else 'MISMATCH'})"
    )
    http = ", ".join(f"{k} {v:,}" for k, v in sorted(fig["http_statuses"].items()))
    print(f"  HTTP answers: {http}")
    for problem in fig["http_problems"]:
        print(f"    NOT 202: {problem}")
    for error in fig["errors"]:
        print(f"    NOT SUCCESS/SKIPPED: {error}")
    sink = fig["sink"]
    print(
        f"  sink: {sink['requests']:,} requests, {sink['keys']:,} distinct Idempotency-Keys, "
        f"{sink['repeats']} repeats; {fig['left_in_queue']} messages left in the queue"
    )
    print(f"\n  CPU over the run window{'':>14}{'seconds':>8} {'ms/execution':>13}")
    for name, used in fig["cpu_seconds"].items():
        print(f"    {name:<35}{used:8.2f} {fig['cpu_ms_per_execution'][name]:13.3f}")
    total = sum(fig["cpu_seconds"].values())
    print(f"    {'total':<35}{total:8.2f} {total * 1000 / max(1, n):13.3f}")
    others = fig["machine_cpu_busy_seconds"] - total
    print(
        f"    {'other processes on the machine':<35}{max(0.0, others):8.2f}"
        f"   (machine busy {fig['machine_cpu_busy_seconds']:.2f} of "
        f"{fig['machine_cpu_seconds']:.2f} CPU s in the window)"
    )
    if total:
        print(
            f"  CPU bound: {fig['cores']} cores / {total * 1000 / max(1, n):.2f} ms per execution"
            f" = {fig['cores'] * n / total:,.0f} executions/s if nothing else ran"
        )
    if asgi:
        print(
            f"  bare uvicorn: server {asgi['server_cpu_ms_per_request']:.3f} ms CPU/request, "
            f"client {asgi['client_cpu_ms_per_request']:.3f} ms"
        )
    if huey:
        print(
            f"  raw Huey no-op: {huey['cpu_ms_per_task']:.3f} ms CPU/task (consumers + Redis); "
            f"end to end with the producer enqueueing {huey['e2e_per_second']:,.0f}/s"
        )
    print(
        "  (PostgreSQL for serve / consumers: this database's backends serving their"
        " connections; server processes (walwriter, checkpointer, …) are shared with"
        " anything else running)"
    )
    profile = fig.get("profile") or {}
    if profile.get("stages"):
        _profile.print_profile(profile["stages"], n, [])
    for label in ("serve", "consumer 0"):
        spy = profile.get(label)
        if not spy:
            continue
        measured = fig["cpu_ms_per_execution"].get(label, 0.0)
        print(
            f"\npy-spy --gil, {label}: {spy['samples']:,} samples; ms/execution = share of"
            f" samples x the process's measured CPU ({measured:.3f} ms)"
        )
        for kind in ("self", "project", "calls out"):
            print(f"  top by {kind}")
            for name, share, ms in spy[kind]:
                print(f"    {share * 100:5.1f} %  {ms:6.3f} ms  {name[:110]}")
    print(f"\nload average at end {machine.get('load average at end', '')}")
