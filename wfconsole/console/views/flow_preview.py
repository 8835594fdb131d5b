"""What a resume or a destination release will do, as the blast-radius dialog shows it.

A resume starts and cancels held runs as its catch-up policy says (``HeldSummary``
counts them per policy); each started run runs the workflow's actions from the first
step, so what it sends is those actions times the runs started. A release sends the runs
waiting for the destination (``ReleasePreview``), each continuing at the step that waited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from wfconsole.console.views.blast_radius_text import MAX_TYPES, plural
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.destinations import ReleasePreview
    from engine.services.flow_control import HeldSummary


@dataclass(frozen=True)
class ChangePreview:
    """A change that is not a bulk retry or cancel, in the blast-radius dialog's terms."""

    headline: str
    body: RenderableType
    changes: int
    """How many runs it starts, cancels or sends (0: nothing to confirm)."""
    verb: str
    """The confirm button's word (``Resume``, ``Release``)."""


def policy_name(catch_up: str) -> str:
    """``spread:10m`` → ``spread``: the key of ``HeldSummary.policies``."""
    return catch_up.split(":", 1)[0]


def resume_preview(
    summary: HeldSummary, catch_up: str, action_types: Sequence[str]
) -> ChangePreview:
    """Resuming ``summary``'s workflow with ``catch_up``; ``action_types`` are its actions."""
    effect = summary.policies[policy_name(catch_up)]
    lines: list[RenderableType] = [
        Text.assemble(
            (f"{plural(summary.held, 'held run')}", "bold"),
            f" · catch-up {catch_up}: ",
            safe_text(effect.description),
        ),
        Text(
            f"{plural(effect.start, 'run')} will start, {plural(effect.cancel, 'run')} "
            "will be cancelled"
        ),
    ]
    if effect.start:
        lines += [Text(""), _actions_table(Counter(action_types), effect.start)]
        messages = effect.start * sum(1 for kind in action_types if _sends(kind))
        lines += [Text(""), Text(f"up to {plural(messages, 'message')} will be sent",
                                 style="bold")]  # fmt: skip
    verb = "Resume"
    changes = effect.start + effect.cancel
    headline = f"Resume {summary.workflow}?" if changes else f"Resume {summary.workflow}"
    return ChangePreview(headline, Group(*lines), changes, verb)


def release_preview(preview: ReleasePreview) -> ChangePreview:
    """Releasing ``preview.destination``: the waiting runs it sends, per workflow."""
    lines: list[RenderableType] = []
    if not preview.held:
        lines.append(Text("the destination is not held", style="dim"))
    if preview.runs:
        lines.append(Text(f"{plural(preview.runs, 'waiting run')} will continue and call it now"))
        table = Table(box=None, header_style="bold", padding=(0, 1), expand=False)
        table.add_column("workflow", no_wrap=True)
        table.add_column("runs", justify="right")
        ordered = sorted(preview.workflows.items(), key=lambda item: (-item[1], item[0]))
        for name, runs in ordered[:MAX_TYPES]:
            table.add_row(safe_text(name, max_length=40), f"{runs:,}")
        if len(ordered) > MAX_TYPES:
            rest = ordered[MAX_TYPES:]
            table.add_row(f"{len(rest)} more workflows", f"{sum(n for _, n in rest):,}")
        lines += [Text(""), table]
    else:
        lines.append(Text("no run is waiting for it: releasing sends nothing"))
    name = preview.destination
    changes = preview.runs if preview.runs else int(preview.held)
    return ChangePreview(f"Release {name}?", Group(*lines), changes, "Release")


def _sends(kind: str) -> bool:
    from engine.services.blast_radius import MESSAGE_TYPES

    return kind in MESSAGE_TYPES


def _actions_table(types: Counter[str], runs: int) -> Table:
    table = Table(box=None, header_style="bold", padding=(0, 1), expand=False)
    table.add_column("actions that will run", no_wrap=True)
    table.add_column("steps", justify="right")
    table.add_column("", style="dim", no_wrap=True)
    ordered = list(types.items())
    for kind, count in ordered[:MAX_TYPES]:
        note = "sends a message" if _sends(kind) else "creates a record"
        table.add_row(safe_text(kind, max_length=24), f"{count * runs:,}", note)
    if len(ordered) > MAX_TYPES:
        rest = ordered[MAX_TYPES:]
        table.add_row(f"{len(rest)} more types", f"{sum(n for _, n in rest) * runs:,}", "")
    return table
