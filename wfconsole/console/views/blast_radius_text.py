"""A bulk retry's or cancel's blast radius in words: what changes, runs, sends and stays."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.blast_radius import BlastRadius

VERBS = {"retry": ("Retry", "retried"), "cancel": ("Cancel", "cancelled")}
MAX_TYPES = 8  # action types listed one per line; the rest are summed up


def plural(count: int, noun: str) -> str:
    """``1 execution``, ``2 executions``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def headline(radius: BlastRadius) -> str:
    """The dialog's question, e.g. ``Retry 3 executions?``."""
    verb = VERBS[radius.action][0]
    if not radius.changes:
        return f"Nothing to {verb.lower()}"
    return f"{verb} {plural(radius.changes, 'execution')}?"


def summary_lines(radius: BlastRadius) -> list[Text]:
    """What changes and what is left alone, one fact a line."""
    done = VERBS[radius.action][1]
    lines = []
    changes = Text(f"{radius.changes:,} of {radius.requested:,} will be {done}")
    if radius.action == "retry":
        changes.append(" (back to PENDING, resuming after their last finished step)")
    elif radius.running:
        changes.append(f"; {radius.running:,} RUNNING stop after their current step")
    lines.append(changes)
    if radius.unchanged:
        kept = ", ".join(f"{n:,} {status}" for status, n in radius.unchanged.items())
        why = "not FAILED or CANCELLED" if radius.action == "retry" else "already finished"
        lines.append(Text(f"left as they are: {kept} ({why})", style="dim"))
    return lines


def actions_table(radius: BlastRadius) -> RenderableType:
    """Per action type, how many steps would run (retry) or will not run (cancel)."""
    if not radius.actions:
        return Text("no action would run" if radius.action == "retry" else "no action is stopped")
    title = "would run again (at most)" if radius.action == "retry" else "will no longer run"
    table = Table(box=None, show_header=True, header_style="bold", padding=(0, 1), expand=False)
    table.add_column(f"actions that {title}", no_wrap=True)
    table.add_column("steps", justify="right")
    table.add_column("", style="dim", no_wrap=True)
    from engine.services.blast_radius import MESSAGE_TYPES  # loaded by the preview

    ordered = list(radius.actions.items())
    for kind, count in ordered[:MAX_TYPES]:
        note = "sends a message" if kind in MESSAGE_TYPES else "creates a record"
        table.add_row(safe_text(kind, max_length=24), f"{count:,}", note)
    rest = ordered[MAX_TYPES:]
    if rest:
        table.add_row(f"{len(rest)} more types", f"{sum(n for _, n in rest):,}", "")
    return table


def totals_lines(radius: BlastRadius) -> list[Text]:
    """Messages sent or stopped, and finished steps kept."""
    if not radius.changes:
        return []
    messages = plural(radius.messages, "message")
    steps = plural(radius.finished_steps, "finished step")
    if radius.action == "retry":
        return [
            Text(f"up to {messages} (email, SMS, chat, webhook) will be sent", style="bold"),
            Text(f"{steps} will be skipped: kept, not run again"),
        ]
    return [
        Text(f"{messages} will not be sent", style="bold"),
        Text(f"{steps} stay recorded as they are"),
    ]


def describe(radius: BlastRadius) -> RenderableType:
    """The whole blast radius as one renderable."""
    parts: list[RenderableType] = [*summary_lines(radius)]
    if radius.changes:
        parts += [Text(""), actions_table(radius), Text(""), *totals_lines(radius)]
    return Group(*parts)
