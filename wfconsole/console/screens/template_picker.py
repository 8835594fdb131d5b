"""The "new workflow" dialog: pick the action type to start from."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from engine.definitions.starter_templates import WorkflowTemplate


class TemplatePickerScreen(ModalScreen[str | None]):
    """Dismisses with the chosen template's action type, or None when cancelled."""

    AUTO_FOCUS = "#template-list"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, templates: Sequence[WorkflowTemplate]) -> None:
        super().__init__()
        self.templates = tuple(templates)

    def compose(self) -> ComposeResult:
        """One option per template: its title and what it does."""
        width = max(len(t.title) for t in self.templates)
        with Vertical(id="template-box") as box:
            box.border_title = "New workflow from a template"
            yield OptionList(
                *(
                    Option(
                        Text.assemble((f"{t.title:<{width}}", "bold"), "  ", (t.summary, "dim")),
                        id=t.action_type,
                    )
                    for t in self.templates
                ),
                id="template-list",
            )
            yield Static("enter  open in the editor    esc  cancel", id="template-keys")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Close with the chosen template."""
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Close without creating anything."""
        self.dismiss(None)
