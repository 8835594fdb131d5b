"""The schedules board as the console shows it: the columns, one row per schedule trigger,
the highlighted trigger's gaps and late starts, and the backfill question."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text

from wfconsole.console.views.display import MISSING, STATUS_STYLES, status_text
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.schedules import BackfillPlan, ScheduleStatus

FIXED_COLUMNS = (
    ("cron", "cron", 12),
    ("next", "next (UTC)", 11),
    ("last", "last run", 12),
    ("ok", "last ok", 7),
    ("gaps", "gaps", 4),
    ("late", "late", 4),
)
"""(key, label, width) after the workflow column."""
WORKFLOW_MIN = 12
WORKFLOW_MAX = 48
SHOWN_TIMES = 6
"""Gaps and late starts listed under the board for the highlighted trigger."""
SHOWN_MISSING = 8
"""Fire times the backfill question lists; the rest are counted."""


def workflow_width(screen_width: int) -> int:
    """The workflow column's width: what the fixed columns leave (each cell is padded by
    one on both sides; a scrollbar may take one more)."""
    fixed = sum(width + 2 for _, _, width in FIXED_COLUMNS) + 2 + 1
    return max(WORKFLOW_MIN, min(WORKFLOW_MAX, screen_width - fixed))


def row_key(status: ScheduleStatus) -> str:
    """The row of one trigger: its workflow and its position among the triggers."""
    return f"{status.trigger.workflow_id}:{status.trigger.position}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def minute(moment: datetime | None) -> str:
    """``MM-DD HH:MM`` in UTC."""
    return MISSING if moment is None else _utc(moment).strftime("%m-%d %H:%M")


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago, in its largest unit: ``45s``, ``12m``, ``3h``, ``2d``."""
    if moment is None:
        return "never"
    seconds = max(0.0, (now - _utc(moment)).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _count(items: Sequence[object], style: str) -> Text:
    if not items:
        return Text("0", style="dim", justify="right")
    return Text(str(len(items)), style=style, justify="right")


def board_cells(status: ScheduleStatus, width: int, now: datetime) -> tuple[Text, ...]:
    """One trigger as a row: workflow, cron, next fire, last run, last success age, gaps, late."""
    trigger = status.trigger
    if not trigger.enabled:
        upcoming = Text("disabled", style="dim")
    else:
        upcoming = Text(minute(trigger.next_fire_at))
    if status.last_run_status is None:
        last = Text("never", style="dim")
    else:
        last = status_text(status.last_run_status)
        last.append(f" {age(status.last_run_at, now)}", style="")
    ok_style = "dim" if status.last_success_at is None else ""
    return (
        safe_text(trigger.workflow, max_length=width),
        safe_text(trigger.cron, max_length=12),
        upcoming,
        last,
        Text(age(status.last_success_at, now), style=ok_style, justify="right"),
        _count(status.gaps, "bold red"),
        _count(status.late, "yellow"),
    )


def _times(label: str, moments: Sequence[datetime], style: str) -> Text:
    text = Text.assemble((f"{label} ({len(moments)}): ", style))
    text.append(", ".join(minute(m) for m in moments[:SHOWN_TIMES]))
    if len(moments) > SHOWN_TIMES:
        text.append(f", … and {len(moments) - SHOWN_TIMES} more", style="dim")
    return text


def trigger_detail(status: ScheduleStatus | None, now: datetime, window_hours: int) -> Text:
    """The highlighted trigger: its schedule, last runs, every gap and late start."""
    if status is None:
        return Text("no schedule triggers", style="dim")
    t = status.trigger
    text = Text.assemble(
        safe_text(t.workflow, style="bold", max_length=40), f" · trigger #{t.position} · cron ",
        safe_text(t.cron, style="bold", max_length=40), " ",
        safe_text(f"({t.timezone})", style="dim", max_length=34),
        " · " + ("enabled" if t.enabled else "disabled"),
    )  # fmt: skip
    text.append(f"\n{status.fire_times} fire time{'' if status.fire_times == 1 else 's'}"
                f" in {window_hours} h · last run ")  # fmt: skip
    if status.last_run_status is None:
        text.append("never")
    else:
        text.append(status.last_run_status, style=STATUS_STYLES.get(status.last_run_status, ""))
        text.append(f" {minute(status.last_run_at)}")
    text.append(f" · last success {age(status.last_success_at, now)}")
    if status.last_success_at is not None:
        text.append(" ago")
    if status.gaps:
        text.append("\n")
        text.append_text(_times("gaps", status.gaps, "bold red"))
    else:
        text.append("\nno gaps: every fire time in the window has a run", style="green")
    if status.late:
        late = Text.assemble(("\n", ""), (f"late ({len(status.late)}): ", "yellow"))
        for number, start in enumerate(status.late[:SHOWN_TIMES]):
            late.append(", " if number else "")
            late.append(f"{minute(start.fire_time)} +{age(start.fire_time, start.started_at)}")
        if len(status.late) > SHOWN_TIMES:
            late.append(f", … and {len(status.late) - SHOWN_TIMES} more", style="dim")
        text.append_text(late)
    if status.gaps:
        text.append("\nb", style="bold")
        text.append(f" previews a backfill of the {len(status.gaps)} gap"
                    f"{'' if len(status.gaps) == 1 else 's'}")  # fmt: skip
    return text


def board_status(board: Sequence[ScheduleStatus], window_hours: int) -> Text:
    """The line over the board: triggers, the window, gaps and late starts in it."""
    gaps = sum(len(s.gaps) for s in board)
    late = sum(len(s.late) for s in board)
    gapped = sum(1 for s in board if s.gaps)
    text = Text(f"{len(board)} schedule trigger{'' if len(board) == 1 else 's'}"
                f" · last {window_hours} h · ")  # fmt: skip
    if gaps:
        text.append(f"{gaps} gap{'' if gaps == 1 else 's'}", style="bold red")
        text.append(f" in {gapped} trigger{'' if gapped == 1 else 's'}")
    else:
        text.append("no gaps")
    text.append(f" · {late} late start{'' if late == 1 else 's'}")
    return text


def backfill_question(plan: BackfillPlan) -> Text:
    """What the backfill would create, fire time by fire time (the dry run's answer)."""
    count = len(plan.missing)
    text = Text.assemble(
        "Backfill ", safe_text(plan.workflow, style="bold", max_length=60), "?\n",
        f"{count} fire time{'' if count == 1 else 's'} between {minute(plan.since)} and "
        f"{minute(plan.until)} UTC {'has' if count == 1 else 'have'} no run "
        f"({plan.already_ran} already ran). One run each is created and queued now: "
        "each runs the workflow's actions.\n",
    )  # fmt: skip
    for position, fire in plan.missing[:SHOWN_MISSING]:
        text.append(f"\n  trigger #{position}  {_utc(fire).strftime('%Y-%m-%d %H:%M')} UTC")
    if count > SHOWN_MISSING:
        text.append(f"\n  … and {count - SHOWN_MISSING} more", style="dim")
    return text
