"""The one-line filter a screen opens with ``/``: enter applies, escape clears and closes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """A hidden Input that a screen shows on ``/``; it reports Applied and Cleared."""

    DEFAULT_CSS = """
    FilterBar {
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    FilterBar:focus {
        border: none;
    }
    FilterBar.-open {
        display: block;
    }
    """

    HELP_GROUP: ClassVar[str] = "Filter"
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter")]

    @dataclass
    class Applied(Message):
        """The operator pressed enter: filter by ``value``."""

        filter_bar: FilterBar
        value: str

        @property
        def control(self) -> FilterBar:
            """The filter bar that sent this."""
            return self.filter_bar

    @dataclass
    class Cleared(Message):
        """The operator pressed escape: show everything again."""

        filter_bar: FilterBar

        @property
        def control(self) -> FilterBar:
            """The filter bar that sent this."""
            return self.filter_bar

    @property
    def is_open(self) -> bool:
        """True while the bar is shown."""
        return self.has_class("-open")

    def open(self, value: str = "") -> None:
        """Show the bar holding ``value`` and give it focus."""
        self.value = value
        self.cursor_position = len(value)
        self.add_class("-open")
        self.focus()

    def close(self) -> None:
        """Hide the bar (its screen decides what gets focus)."""
        self.remove_class("-open")

    def action_clear_filter(self) -> None:
        """Empty and hide the bar, and say so."""
        self.value = ""
        self.close()
        self.post_message(self.Cleared(self))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Turn the Input's submit into Applied and hide the bar."""
        event.stop()
        self.close()
        self.post_message(self.Applied(self, self.value))
