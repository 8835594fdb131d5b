"""Percentiles and the printed table of bench/console.py."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile (NaN for no samples)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class Figure:
    what: str
    samples: list[float]
    baseline: list[float] | None
    goal_ms: float | None

    def cells(self) -> list[str]:
        if not self.samples:
            return [self.what, "-", "-", "-", "-", "-", "not built yet"]
        p50, p95 = statistics.median(self.samples), percentile(self.samples, 0.95)
        floor = statistics.median(self.baseline) if self.baseline else None
        goal = ""
        if self.goal_ms is not None:
            goal = f"goal {self.goal_ms:.0f}: {'met' if p95 <= self.goal_ms else 'MISSED'}"
        return [
            self.what,
            str(len(self.samples)),
            f"{p50:.1f}",
            f"{p95:.1f}",
            f"{floor:.1f}" if floor is not None else "-",
            f"{p50 / floor:.1f}x" if floor else "-",
            goal,
        ]


def print_figures(figures: list[Figure]) -> None:
    header = ["measure (ms)", "n", "p50", "p95", "query", "ratio", ""]
    rows = [header] + [figure.cells() for figure in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def figures_json(figures: list[Figure]) -> dict[str, dict[str, float | int | None]]:
    """Each figure's sample count, p50 and p95, and its query's median (ms), for ``--json``."""
    out: dict[str, dict[str, float | int | None]] = {}
    for figure in figures:
        if not figure.samples:
            continue
        out[figure.what] = {
            "n": len(figure.samples),
            "p50_ms": statistics.median(figure.samples),
            "p95_ms": percentile(figure.samples, 0.95),
            "query_ms": statistics.median(figure.baseline) if figure.baseline else None,
        }
    return out
