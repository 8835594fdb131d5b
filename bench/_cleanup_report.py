"""The printed report of bench/cleanup.py, and the verdict on issue 6's done-means."""

from __future__ import annotations

from typing import Any

BLOCK_BOUND_MS = 1000.0


def worst_wait_ms(cleanup: dict[str, Any]) -> float:
    """The longest any worker waited during the cleanup: claim, commit or a lock."""
    during = cleanup["waits"]["during"]
    return max(during["claim_max_ms"], during["commit_max_ms"], cleanup["lock_wait_max_ms"])


def verdict(figures: dict[str, Any], unfinished_each: int) -> dict[str, bool]:
    """Each part of the done-means, true when it held in this run."""
    cleanup, left = figures["cleanup"], figures["old_left"]
    statuses = cleanup["stream_statuses"]
    return {
        "no execution lost (every stream run SUCCESS)": statuses.get("SUCCESS", 0)
        == cleanup["stream_sent"]
        and sum(statuses.values()) == cleanup["stream_sent"],
        f"no worker blocked more than {BLOCK_BOUND_MS:.0f} ms": worst_wait_ms(cleanup)
        < BLOCK_BOUND_MS,
        "old PENDING/RUNNING kept, old finished all gone": left
        == {"PENDING": unfinished_each, "RUNNING": unfinished_each},
        "--dry-run changed nothing": figures["dry_run"]["unchanged"],
    }


def _waits_row(label: str, w: dict[str, float]) -> str:
    return (
        f"  {label:<7} {w['runs']:>6,}  {w['claim_p50_ms']:7.1f} {w['claim_p99_ms']:7.1f}"
        f" {w['claim_max_ms']:8.1f}   {w['commit_p50_ms']:7.1f} {w['commit_p99_ms']:7.1f}"
        f" {w['commit_max_ms']:8.1f}"
    )


def print_report(figures: dict[str, Any], unfinished_each: int) -> None:
    cleanup, bare, dry = figures["cleanup"], figures["bare_delete"], figures["dry_run"]
    load = " ".join(f"{v:.1f}" for v in figures["load_average_start"])
    print(f"\n{figures['executions_seeded']:,} old executions; load average at start {load}")
    print(f"dry run: exit {dry['exit']}, counts before {dry['counts_before']}")
    print(f"         counts after  {dry['counts_after']}")
    rate, floor = cleanup["rows_per_second"], bare["rows_per_second"]
    rows, seconds = cleanup["rows_deleted"], cleanup["seconds"]
    print(
        f"engine cleanup under load  {rows:>10,} rows  {seconds:7.1f} s  {rate:>9,.0f} rows/s"
        f"   {cleanup['batches']} batches, {cleanup['timeouts']} timeouts"
    )
    print(
        f"bare DELETE, one tx, quiet {bare['rows']:>10,} rows  {bare['seconds']:7.1f} s"
        f"  {floor:>9,.0f} rows/s   ratio {rate / floor:.2f}"
    )
    print(f"counting first (the dry run's queries): {cleanup['count_seconds']:.1f} s")
    print(
        f"batch duration ms: p50 {cleanup['batch_p50_ms']:.0f}  p99 {cleanup['batch_p99_ms']:.0f}"
        f"  max {cleanup['batch_max_ms']:.0f}"
    )
    print(f"\nworkers' waits (ms), stream at {figures['settings']['rate']:g} runs/s:")
    print("  phase     runs  claim p50     p99      max   commit p50     p99      max")
    for phase in ("before", "during", "after"):
        print(_waits_row(phase, cleanup["waits"][phase]))
    print(
        f"longest lock wait seen in pg_stat_activity: {cleanup['lock_wait_max_ms']:.0f} ms"
        f" ({cleanup['lock_wait_samples']} samples with a waiter)"
    )
    print(f"stream: {cleanup['stream_sent']:,} sent, {cleanup['stream_statuses']}")
    print(f"old runs left: {figures['old_left']}")
    print()
    for check, held in verdict(figures, unfinished_each).items():
        print(f"  [{'ok' if held else 'FAILED'}] {check}")
    end = " ".join(f"{v:.1f}" for v in figures["load_average_end"])
    print(f"load average at end {end}")
