"""What the workflow editor shows: the document as text and the schema's errors."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from engine.services.workflow_editing import DefinitionCheck
from wfconsole.console.widgets.safe_text import safe_text


def document_text(document: dict[str, Any]) -> str:
    """A definition document as the editor shows it: indented JSON, non-ASCII kept."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def errors_text(errors: tuple[tuple[str, str], ...]) -> Text:
    """One ``path: message`` line per error, the path in bold; literal, never markup."""
    text = Text()
    for number, (path, message) in enumerate(errors):
        if number:
            text.append("\n")
        text.append("• ", style="red")
        if path:
            text.append_text(safe_text(path, style="bold"))
            text.append(": ")
        text.append_text(safe_text(message, multiline=True))
    return text


def only_rename(check: DefinitionCheck) -> bool:
    """A dry run is still useful when the only error is the refused rename."""
    return all(path == "name" and "renaming" in message for path, message in check.errors)
