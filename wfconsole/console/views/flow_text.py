"""Flow control in words: a pause's state, the catch-up policies, a workflow's limits,
and the dashboard's paused banner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text

from wfconsole.console.views.blast_radius_text import plural
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.flow_control import HeldSummary
    from engine.services.flow_limits import LimitState

POLICY_HINTS = {
    "all": "all",
    "latest": "latest",
    "skip": "skip",
    "spread": "spread:DURATION",
}
BANNER_NAMES = 3
"""Paused workflows the banner names; the rest are counted."""


def when(value: datetime | None) -> str:
    """``2024-05-01 12:00:00 UTC`` (seconds are enough for a pause or a hold)."""
    if value is None:
        return "-"
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def pause_state_text(summary: HeldSummary) -> Text:
    """Since when and by whom it is paused, until when, and how many runs it holds."""
    text = Text.assemble(
        "paused since ", (when(summary.paused_at), "bold"), " by ",
        safe_text(summary.paused_by or "-", style="bold", max_length=40),
    )  # fmt: skip
    if summary.paused_until is not None:
        text.append(f"\nresumes by itself at {when(summary.paused_until)}")
    text.append("\n")
    text.append(plural(summary.held, "run") + " held", style="bold yellow")
    text.append(" · choose what happens to them:")
    return text


def policy_label(summary: HeldSummary, policy: str) -> Text:
    """One catch-up policy as the dialog lists it: its name and what it would do."""
    effect = summary.policies[policy]
    return Text.assemble(
        (f"{POLICY_HINTS[policy]:<16}", "bold"), safe_text(effect.description, max_length=56)
    )


def limit_state_text(state: LimitState) -> Text:
    """The limits in force, the definition's, the override and the runs a limit holds."""
    text = Text()
    text.append("in force ", style="bold")
    text.append(_limits(state.concurrency, state.rate))
    text.append(" · definition ", style="bold")
    text.append(_limits(state.definition_concurrency, state.definition_rate))
    text.append("\noverride ", style="bold")
    if state.override_concurrency is None and state.override_rate is None:
        text.append("none")
    else:
        text.append(_limits(state.override_concurrency, state.override_rate))
        text.append(" by ")
        text.append_text(safe_text(state.override_by or "-", max_length=30))
        until = when(state.override_until) if state.override_until else "cleared"
        text.append(f" · until {until}")
    text.append(" · ")
    text.append(f"{plural(state.held, 'run')} held by a limit", style="bold" if state.held else "")
    return text


def _limits(concurrency: int | None, rate: str | None) -> str:
    parts = []
    if concurrency is not None:
        parts.append(f"at most {concurrency:,} at once")
    if rate is not None:
        parts.append(f"at most {rate}")
    return ", ".join(parts) or "none"


def paused_banner(paused: Sequence[HeldSummary]) -> Text:
    """The dashboard's banner: which workflows are paused and how many runs they hold."""
    held = sum(p.held for p in paused)
    text = Text.assemble(
        (f" ⏸ {plural(len(paused), 'workflow')} paused", "bold"),
        f" · {plural(held, 'run')} held: ",
    )
    for index, summary in enumerate(paused[:BANNER_NAMES]):
        if index:
            text.append(", ")
        text.append_text(safe_text(summary.workflow, max_length=24))
        text.append(f" ({summary.held:,})")
    if len(paused) > BANNER_NAMES:
        text.append(f" and {len(paused) - BANNER_NAMES} more")
    text.append(" · w then p resumes")
    return text
