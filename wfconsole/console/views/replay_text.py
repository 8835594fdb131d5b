"""The replay dialogs' text: what a replay copies, what it sends and where.

Every value that came from data (names, URLs, errors, notes) goes through ``safe_text``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rich.text import Text

from wfconsole.console.views.blast_radius_text import plural
from wfconsole.console.widgets.safe_text import safe_text

if TYPE_CHECKING:
    from engine.execution.dry_run import ActionPreview
    from engine.services.replay import ReplayPlan

TARGET_FIELDS = ("url", "channel", "to", "title", "name", "customer")
"""The field that says where a non-HTTP step goes, first one present."""


def step_target(step: ActionPreview) -> Text:
    """``POST https://…`` for a request, else the step's recipient or title."""
    if step.request is not None:
        return Text.assemble(
            (step.request.method, "bold"), " ", safe_text(step.request.url, max_length=60)
        )
    for name in TARGET_FIELDS:
        value: Any = step.fields.get(name)
        if value:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            return Text.assemble(f"{name} ", safe_text(shown, max_length=50))
    return Text("")


def plan_text(plan: ReplayPlan) -> Text:
    """One replay's blast radius: the steps copied (not sent) and the steps sent again."""
    lines: list[Text] = [
        Text.assemble(
            ("workflow ", "bold"),
            safe_text(plan.workflow, max_length=40),
            f"  version {plan.version}  from step {plan.from_step}",
        )
    ]
    if plan.copied:
        lines.append(Text(f"copied, not sent ({len(plan.copied)}):", style="bold"))
        for index, action, status in plan.copied:
            lines.append(
                Text.assemble(f"  {index:>2}  ", safe_text(action, max_length=16), f"  {status}")
            )
    else:
        lines.append(Text("copied, not sent: nothing (every step runs)", style="bold"))
    lines.append(Text(f"sent again ({len(plan.runs)}):", style="bold yellow"))
    for step in plan.runs:
        line = Text.assemble(f"  {step.index:>2}  ", safe_text(step.type, max_length=16), "  ")
        line.append_text(step_target(step))
        if step.problems:
            line.append_text(
                Text.assemble("  ", safe_text(step.problems[0].message, style="red", max_length=50))
            )
        lines.append(line)
    for note in plan.notes:
        lines.append(safe_text(f"note: {note}", style="italic"))
    return Text("\n").join(lines)


def cluster_text(plans: list[ReplayPlan]) -> Text:
    """A cluster's replays in sum: how many runs, the steps they copy and send, the hosts."""
    copied = sum(len(plan.copied) for plan in plans)
    sent: Counter[tuple[int, str]] = Counter()
    hosts: Counter[str] = Counter()
    for plan in plans:
        for step in plan.runs:
            sent[step.index, step.type] += 1
            if step.request is not None:
                hosts[urlsplit(step.request.url).hostname or step.request.url] += 1
    workflows = sorted({plan.workflow for plan in plans})
    lines: list[Text] = [
        Text.assemble(
            (plural(len(plans), "new execution"), "bold"),
            " of ",
            safe_text(", ".join(workflows), max_length=60),
        ),
        Text("each from its failed step, on its original definition"),
        Text(f"{plural(copied, 'finished step')} copied, not sent"),
        Text("steps sent again:", style="bold yellow"),
    ]
    for (index, action), count in sorted(sent.items()):
        lines.append(Text.assemble(f"  step {index:>2}  ", safe_text(action, max_length=16),
                                   f"  x{count:,}"))  # fmt: skip
    if hosts:
        lines.append(Text("to hosts:", style="bold"))
        for host, count in hosts.most_common(5):
            lines.append(Text.assemble("  ", safe_text(host, max_length=50), f"  x{count:,}"))
        if len(hosts) > 5:
            lines.append(Text(f"  and {len(hosts) - 5:,} more"))
    notes = sorted({note for plan in plans for note in plan.notes})
    for note in notes[:3]:
        lines.append(safe_text(f"note: {note}", style="italic"))
    return Text("\n").join(lines)
