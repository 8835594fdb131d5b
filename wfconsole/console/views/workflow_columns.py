"""The workflow list's columns: the name column's width at a screen width, a row's cells."""

from __future__ import annotations

from rich.text import Text

from engine.services.workflows import WorkflowSummary
from wfconsole.console.views.display import number, percent, short_time, trigger_list
from wfconsole.console.widgets.safe_text import safe_text

# Fixed columns (key, label, width); the name column takes what is left. "on" says yes or
# no, or for an enabled workflow whether it is paused or a limit is in force.
FIXED_COLUMNS = (
    ("enabled", "on", 6),
    ("triggers", "triggers", 17),
    ("last_run", "last run (UTC)", 14),
    ("success", "success", 7),
    ("executions", "runs", 6),
)
NAME_MIN, NAME_MAX = 14, 48
# Cell padding on both sides of every column, and the vertical scrollbar.
CHROME = 2 * (len(FIXED_COLUMNS) + 1) + 1


def name_width(screen_width: int) -> int:
    """Width of the name column at a screen width."""
    fixed = sum(width for _, _, width in FIXED_COLUMNS) + CHROME
    return max(NAME_MIN, min(NAME_MAX, screen_width - fixed))


def workflow_cells(workflow: WorkflowSummary, width: int) -> tuple[Text, ...]:
    """One workflow's row, its name cut to ``width``."""
    return (
        safe_text(workflow.name, max_length=width),
        enabled_cell(workflow),
        trigger_list(workflow.trigger_types, max_length=17),
        short_time(workflow.last_execution_at),
        percent(workflow.success_rate),
        number(workflow.execution_count),
    )


def enabled_cell(workflow: WorkflowSummary) -> Text:
    """``yes`` / ``no``; ``paused`` or ``limit`` (a limit in force) for an enabled one."""
    if not workflow.enabled:
        return Text("no", style="dim")
    state = workflow.flow_state
    if state == "paused":
        return Text("paused", style="bold yellow")
    if state == "limited":
        return Text("limit", style="cyan")
    return Text("yes", style="green")


def list_status(shown: int, total: int, name_filter: str) -> Text:
    """The line above the list: how many workflows, and the filter when there is one."""
    if not name_filter:
        return Text(f"{total} workflows")
    return Text.assemble(
        f"{shown} of {total} workflows · name contains ", safe_text(name_filter, style="bold")
    )
