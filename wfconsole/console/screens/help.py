"""The ``?`` dialog: every key of the console and of the screen it was opened from."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from wfconsole.console.views.key_help import KeyGroup, help_text


class HelpScreen(ModalScreen[None]):
    """A dialog listing key bindings; ``escape`` or ``?`` closes it."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", key_display="?", show=False),
    ]

    def __init__(self, groups: Iterable[KeyGroup]) -> None:
        super().__init__()
        self.groups = tuple(groups)

    def compose(self) -> ComposeResult:
        """The key list in a scrolling box."""
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "esc closes"
            yield Static(help_text(self.groups), id="help-keys")
