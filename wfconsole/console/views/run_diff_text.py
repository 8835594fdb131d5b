"""A run diff in words: both runs, the trigger paths and the definition that differ, one
row per step, and the values of the first difference.

Every value that came from data (ids, names, payloads, errors) is a ``safe_text``: markup
and escape sequences show literally. The rendered inputs are the service's, secrets
already masked.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from wfconsole.console.views.display import duration, first_line, status_text
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.services.run_diff import RunDiff, RunSide, StepDiff, StepSide

VALUE_LENGTH = 160
"""A value of the first difference is cut after this many characters (the detail has all)."""
MAX_PATHS = 8
"""Differing paths listed per field; the rest are counted."""
FIRST_STYLE = "bold yellow"


def compact(value: Any) -> str:
    """A JSON value on one line, keys sorted (a string as itself)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def value_at(document: Any, path: str) -> Any:
    """The value at a diff path (``trigger.a.b[2]``) of a JSON document, or None."""
    value = document
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def _value(value: Any, style: str = "") -> Text:
    shown = "-" if value is None else first_line(compact(value)) or compact(value)
    return safe_text(shown, style=style, max_length=VALUE_LENGTH)


def _run_line(label: str, run: RunSide) -> Text:
    line = Text.assemble((f"{label:<6} ", "bold"), safe_text(run.id, max_length=40))
    line.append(f"  v{run.version}  ")
    status = status_text(run.status)
    line.append_text(status)
    line.append(" " * max(1, 10 - status.cell_len))
    line.append(f"{duration(run.duration_ms):<8}")
    line.append_text(safe_text(run.trigger_type, style="dim", max_length=12))
    if run.error:
        line.append("\n       ")
        line.append_text(_value(run.error, style="red"))
    return line


def runs_text(diff: RunDiff) -> Text:
    """Both runs: id, definition version, status, duration and trigger type."""
    text = Text()
    if diff.left.workflow != diff.right.workflow:
        text.append_text(
            Text.assemble("runs of two workflows: ", safe_text(diff.left.workflow, max_length=40),
                          " and ", safe_text(diff.right.workflow, max_length=40), "\n")
        )  # fmt: skip
    text.append_text(_run_line("left", diff.left))
    text.append("\n")
    text.append_text(_run_line("right", diff.right))
    return text


def trigger_text(diff: RunDiff) -> Text:
    """The trigger paths that differ, each with both values; or that they are the same."""
    paths = diff.trigger_paths
    if not paths:
        return Text("trigger data: the same", style="dim")
    text = Text(f"trigger data differs at {len(paths)} path{'' if len(paths) == 1 else 's'}:")
    left, right = {"trigger": diff.left.trigger_data}, {"trigger": diff.right.trigger_data}
    for path in paths[:MAX_PATHS]:
        text.append("\n  ")
        text.append_text(safe_text(path, style="bold", max_length=60))
        text.append("  ")
        text.append_text(_value(value_at(left, path)))
        text.append("  |  ", style="dim")
        text.append_text(_value(value_at(right, path)))
    if len(paths) > MAX_PATHS:
        text.append(f"\n  … and {len(paths) - MAX_PATHS} more", style="dim")
    return text


def definition_text(diff: RunDiff) -> Text:
    """Whether the two runs ran the same definition, and where the versions differ."""
    left, right = diff.left, diff.right
    if diff.definition_paths:
        shown = ", ".join(diff.definition_paths[:MAX_PATHS])
        more = len(diff.definition_paths) - MAX_PATHS
        return Text.assemble(
            (f"definition v{left.version} and v{right.version} differ at: ", "yellow"),
            safe_text(shown + (f", … and {more} more" if more > 0 else ""), max_length=200),
        )
    if (left.workflow, left.version) != (right.workflow, right.version):
        return Text(f"definition v{left.version} and v{right.version}: the same", style="dim")
    return Text(f"definition: the same version (v{left.version})", style="dim")


def _side_cell(step: StepSide | None) -> Text:
    if step is None:
        return Text("no such step", style="dim")
    if step.status is None:
        return Text("not reached", style="dim")
    cell = status_text(step.status)
    cell.append(f" {duration(step.duration_ms)}")
    if step.error:
        cell.append(" ")
        cell.append_text(_value(step.error, style="red"))
    return cell


def steps_table(diff: RunDiff) -> Table:
    """One row per step: action, each side's status, duration and error, what differs;
    the first difference marked."""
    first = diff.first_difference
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False, header_style="bold")
    table.add_column("", width=1, no_wrap=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("action", no_wrap=True, max_width=14, overflow="ellipsis")
    table.add_column("left", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("right", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("differs", no_wrap=True, max_width=22, overflow="ellipsis")
    for step in diff.steps:
        some = step.left or step.right
        is_first = first is not None and step.index == first.index
        table.add_row(
            Text("▶", style=FIRST_STYLE) if is_first else "",
            str(step.index),
            safe_text(some.action if some else "-"),
            _side_cell(step.left),
            _side_cell(step.right),
            Text(", ".join(step.differs) or "-", style="yellow" if step.differs else "dim"),
            style="bold" if is_first else "",
        )
    return table


def _field_lines(name: str, left: Any, right: Any) -> Text:
    """What differs in one field: for JSON objects the paths inside, else the two values."""
    from engine.services.run_diff import json_paths_that_differ  # loaded by the worker

    text = Text()
    if isinstance(left, dict | list) and isinstance(right, dict | list):
        paths = json_paths_that_differ(left, right)
        for path in paths[:MAX_PATHS]:
            text.append("\n  ")
            text.append_text(safe_text(f"{name}.{path}", style="bold", max_length=60))
            text.append("\n    left   ", style="dim")
            text.append_text(_value(value_at(left, path)))
            text.append("\n    right  ", style="dim")
            text.append_text(_value(value_at(right, path)))
        if len(paths) > MAX_PATHS:
            text.append(f"\n  … and {len(paths) - MAX_PATHS} more", style="dim")
        return text
    text.append("\n  ")
    text.append(name, style="bold")
    text.append("\n    left   ", style="dim")
    text.append_text(_value(left))
    text.append("\n    right  ", style="dim")
    text.append_text(_value(right))
    return text


def first_difference_text(step: StepDiff | None) -> Text:
    """The first step that differs, and for each differing field both values."""
    if step is None:
        return Text("no step differs", style="green")
    some = step.left or step.right
    action = some.action if some else "-"
    text = Text.assemble(
        ("first difference: ", FIRST_STYLE), (f"step {step.index} ", FIRST_STYLE),
        "(", safe_text(action, max_length=20), f") · {', '.join(step.differs)}",
    )  # fmt: skip
    if step.left is None or step.right is None:
        side = "left" if step.right is None else "right"
        text.append(f"\n  the step exists on the {side} only (the definitions differ)")
        return text
    for name in step.differs:
        text.append_text(_field_lines(name, getattr(step.left, name), getattr(step.right, name)))
    return text


def diff_view(diff: RunDiff) -> RenderableType:
    """The whole comparison, top to bottom."""
    return Group(
        runs_text(diff),
        Text(),
        trigger_text(diff),
        definition_text(diff),
        Text(),
        steps_table(diff),
        Text(),
        first_difference_text(diff.first_difference),
    )


def nothing_to_compare(reason: str, workflow: str) -> Text:
    """Why there is no diff, and what to do instead."""
    return Text.assemble(
        ("Nothing to compare: ", "bold"),
        safe_text(reason, multiline=True),
        "\n\n",
        ("tab", "bold"),
        " picks another run of ",
        safe_text(workflow, style="bold", max_length=60),
        " to compare with; ",
        ("esc", "bold"),
        " goes back.",
    )
