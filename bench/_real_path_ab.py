"""Two versions of the code on the real path, run alternately: CPU per execution, A vs B.

On a shared machine executions/s swing with whatever else runs; the CPU each process
spends per execution (``real_path.py``'s figure) moves much less. This runs
``bench/real_path.py --skip-baselines --json`` from tree A, then from tree B, ``--pairs``
times (A, B, A, B, …: a slow spell hits both sides), and prints each process's CPU ms per
execution, the mean of each side and the difference in each pair, the executions/s, and
whether every run came out right (statuses as expected, no repeated
``Idempotency-Key``, nothing left in the queue) — a run that did not is marked.

A tree is a directory holding a copy of the project, e.g. the previous commit:
``git archive HEAD | tar -x -C /tmp/before``. Each side runs its own ``bench/real_path.py``
with this interpreter, so both use the same virtualenv and each imports its own
``engine``. Arguments after ``--`` go to ``real_path.py`` (the same for both sides).
Named with a leading underscore so that ``make bench`` (which runs every other script
without arguments) leaves it out.

    .venv/bin/python bench/_real_path_ab.py /tmp/before . --pairs 3 [-- -n 4000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PYTHON = sys.executable
# Rows of the table: a label and how to read it off one run's JSON.
ROWS: tuple[tuple[str, str], ...] = (
    ("serve", "serve"),
    ("consumers (all)", "consumer"),
    ("PostgreSQL for serve", "PostgreSQL for serve"),
    ("PostgreSQL for consumers", "PostgreSQL for consumers"),
    ("Redis", "Redis"),
    ("load generator", "load generator"),
)


def _tree(value: str) -> Path:
    path = Path(value).resolve()
    if not (path / "bench" / "real_path.py").is_file():
        raise argparse.ArgumentTypeError(f"{value}: no bench/real_path.py in this directory")
    return path


def _pairs(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= number <= 50:
        raise argparse.ArgumentTypeError(f"{number} is not between 1 and 50")
    return number


def run_once(tree: Path, extra: list[str]) -> dict[str, Any]:
    """One ``real_path.py`` run from ``tree``; its JSON figures (raises when it failed)."""
    done = subprocess.run(
        [PYTHON, "bench/real_path.py", "--skip-baselines", "--json", *extra],
        cwd=tree, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"real_path.py in {tree} failed: {done.stderr.strip()[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def per_execution(figures: dict[str, Any]) -> dict[str, float]:
    """CPU ms per execution by row (the consumers summed), the total, executions/s and
    the CPU seconds other processes took in the window."""
    cpu: dict[str, float] = figures["cpu_ms_per_execution"]
    row = {
        label: sum(value for name, value in cpu.items() if name.startswith(prefix))
        for label, prefix in ROWS
    }
    row["all processes"] = sum(cpu.values())
    row["executions/s"] = float(figures["executions_per_second"])
    # CPU seconds of everything else on the machine in the window: how noisy the run was.
    row["other processes, s"] = figures["machine_cpu_busy_seconds"] - sum(
        figures["cpu_seconds"].values()
    )
    return row


def correct(figures: dict[str, Any]) -> bool:
    """Every run as expected, no repeated key at the sink, no message left."""
    return bool(
        figures["as_expected"]
        and figures["sink"]["repeats"] == 0
        and figures["left_in_queue"] == 0
        and not figures["http_problems"]
    )


def report(runs: dict[str, list[dict[str, Any]]]) -> str:
    """The table: per row, the mean of A and of B and B - A in each pair."""
    a = [per_execution(f) for f in runs["A"]]
    b = [per_execution(f) for f in runs["B"]]
    lines = [f"{'CPU ms per execution':28} {'A mean':>8} {'B mean':>8}   B - A per pair"]
    totals = ["all processes", "executions/s", "other processes, s"]
    for label in [*(label for label, _ in ROWS), *totals]:
        mean_a = sum(r[label] for r in a) / len(a)
        mean_b = sum(r[label] for r in b) / len(b)
        deltas = " ".join(f"{y[label] - x[label]:+.3f}" for x, y in zip(a, b, strict=False))
        lines.append(f"{label:28} {mean_a:8.3f} {mean_b:8.3f}   {deltas}")
    for side, figures in runs.items():
        flags = ["ok" if correct(f) else "NOT AS EXPECTED" for f in figures]
        lines.append(f"side {side} runs: {', '.join(flags)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree_a", type=_tree, help="directory of version A")
    parser.add_argument("tree_b", type=_tree, help="directory of version B")
    parser.add_argument("--pairs", type=_pairs, default=2, help="A, B pairs (default 2)")
    parser.add_argument("--json", action="store_true", help="every run's figures as JSON")
    args, extra = parser.parse_known_args(argv)
    extra = [x for x in extra if x != "--"]
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    for pair in range(args.pairs):
        for side, tree in (("A", args.tree_a), ("B", args.tree_b)):
            print(f"pair {pair + 1}/{args.pairs}: {side} ({tree})", file=sys.stderr)
            try:
                runs[side].append(run_once(tree, extra))
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                return 1
    print(json.dumps(runs) if args.json else report(runs))
    return 0 if all(correct(f) for side in runs.values() for f in side) else 1


if __name__ == "__main__":
    raise SystemExit(main())
