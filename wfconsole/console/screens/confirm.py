"""A yes/no question for a destructive change, answered with ``y`` or ``n``/``escape``."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from wfconsole.console.widgets.safe_text import safe_text


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True only when the operator pressed ``y``."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No", key_display="n"),
    ]

    def __init__(self, title: str, question: Text, *, yes: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        """The question (a ``Text``: names in it stay literal) and the two answers."""
        with Vertical(id="confirm-box") as box:
            box.border_title = safe_text(self.title_text, max_length=60)  # titles parse markup
            yield Static(self.question, id="confirm-question")
            yield Static(f"y  {self.yes}    n / esc  keep it", id="confirm-keys", markup=False)

    def action_answer(self, confirmed: bool) -> None:
        """Close the dialog with the answer."""
        self.dismiss(confirmed)
