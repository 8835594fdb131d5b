"""The dry run's texts: a sample payload to start from, and the result as inert Rich text
(condition verdicts, then each action's request)."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from engine.definitions.sample_payload import sample_payload
from engine.definitions.schema import DefinitionError, validate_definition
from engine.execution.dry_run import ActionPreview, DryRunResult
from wfconsole.console.widgets.safe_text import safe_text

PASS = ("✓", "green")
FAIL = ("✗", "red")


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _field(text: Text, label: str, value: Any, indent: str = "      ") -> None:
    text.append(indent)
    text.append_text(safe_text(label, style="bold"))
    text.append(": ")
    text.append_text(safe_text(_json(value), multiline=True))
    text.append("\n")


def _conditions(result: DryRunResult, text: Text) -> None:
    if not result.conditions:
        text.append("Conditions: ", style="bold")
        text.append("none — every trigger runs the actions\n", style="green")
        return
    text.append("Conditions: ", style="bold")
    if result.conditions_passed:
        text.append("pass — the run would go ahead\n", style="bold green")
    else:
        text.append("fail — the run would be SKIPPED\n", style="bold red")
    for line in result.conditions:
        mark, style = PASS if line.passed else FAIL
        text.append("  " * (line.depth + 1))
        text.append(f"{mark} ", style=style)
        text.append_text(safe_text(line.text))
        if line.kind == "rule":
            found = "missing" if line.actual is None else f"found {line.actual}"
            text.append("  (", style="dim")
            text.append_text(safe_text(found, style="dim", max_length=60))
            text.append(")", style="dim")
        text.append("\n")


def _action(preview: ActionPreview, text: Text) -> None:
    text.append(f"  {preview.index} ", style="bold")
    text.append(preview.type, style="bold cyan")
    if preview.name:
        text.append("  ")
        text.append_text(safe_text(preview.name, style="italic", max_length=60))
    text.append("\n")
    request = preview.request
    if request is not None:
        text.append("      ")
        text.append(request.method, style="bold")
        text.append(" ")
        text.append_text(safe_text(request.url, multiline=True))
        text.append("\n")
        for name, value in request.headers.items():
            _field(text, name, value, indent="      ")
        if request.body is not None:
            _field(text, "body", request.body)
    else:
        for name, value in preview.fields.items():
            if value is not None and value != []:
                _field(text, name, value)
    for problem in preview.problems:
        text.append("      ! ", style="bold red")
        text.append_text(safe_text(problem.path, style="bold red"))
        text.append(": ", style="red")
        text.append_text(safe_text(problem.message, style="red", multiline=True))
        text.append("\n")
    if preview.deferred:
        text.append("      known at run time: ", style="dim")
        text.append_text(safe_text(", ".join(preview.deferred), style="dim"))
        text.append("\n")
    if preview.secrets:
        text.append("      secrets (not expanded): ", style="yellow")
        text.append_text(safe_text(", ".join(preview.secrets), style="yellow"))
        text.append("\n")


def dry_run_report(result: DryRunResult) -> Text:
    """The whole result, top to bottom; every data string is shown literally."""
    text = Text()
    _conditions(result, text)
    text.append("\n")
    count = len(result.actions)
    text.append(f"Actions ({count})", style="bold")
    if not result.conditions_passed:
        text.append(" — would not run; rendered for a preview", style="dim")
    problems = len(result.problems)
    if problems:
        text.append(f" — {problems} field{'s' if problems > 1 else ''} cannot render", style="red")
    text.append("\n")
    for preview in result.actions:
        _action(preview, text)
    text.append("\nNothing was sent and nothing was stored.", style="dim")
    return text


def default_payload_text(document: Any) -> str:
    """A sample payload derived from the definition, as indented JSON (``{}`` if none)."""
    try:
        sample = sample_payload(validate_definition(document))
    except DefinitionError:
        sample = {}
    return json.dumps(sample, indent=2, ensure_ascii=False)
