"""A unified diff between two versions of a workflow, coloured by line kind."""

from __future__ import annotations

from rich.text import Text

from engine.services.workflow_versions import VersionDiff
from wfconsole.console.widgets.safe_text import safe_text

DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def diff_text(diff: VersionDiff) -> Text:
    """A unified diff, coloured by line kind; every line literal."""
    text = Text()
    for number, line in enumerate(diff.lines):
        if number:
            text.append("\n")
        style = next((s for prefix, s in DIFF_STYLES if line.startswith(prefix)), "")
        text.append_text(safe_text(line, style=style))
    return text
