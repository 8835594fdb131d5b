"""The "leave without saving?" question, answered with ``y`` or ``n``/``escape``."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class DiscardChangesScreen(ModalScreen[bool]):
    """Dismisses with True when the operator chose to drop their unsaved changes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Discard"),
        Binding("n,escape", "answer(False)", "Keep editing", key_display="n"),
    ]

    def __init__(self, question: str = "Leave the editor and lose your changes?") -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        """One question and the two answers."""
        with Vertical(id="discard-box") as box:
            box.border_title = "Unsaved changes"
            yield Static(self.question, id="discard-question", markup=False)
            yield Static("y  discard and leave    n / esc  keep editing", id="discard-keys")

    def action_answer(self, discard: bool) -> None:
        """Close the dialog with the answer."""
        self.dismiss(discard)
