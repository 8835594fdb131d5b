"""The ``?`` dialog: every key of the console and of the screen it was opened from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True)
class KeyHelp:
    """One binding as the help lists it."""

    key: str
    description: str


@dataclass(frozen=True)
class KeyGroup:
    """The bindings of one place (the console, a screen)."""

    title: str
    keys: tuple[KeyHelp, ...]


def help_text(groups: Iterable[KeyGroup]) -> Text:
    """The groups as aligned ``key  description`` lines under bold titles."""
    groups = [group for group in groups if group.keys]
    width = max((len(item.key) for group in groups for item in group.keys), default=0)
    text = Text()
    for group in groups:
        text.append(f"{group.title}\n", style="bold underline")
        for item in group.keys:
            text.append(f"  {item.key:>{width}}  ", style="bold")
            text.append(f"{item.description}\n")
        text.append("\n")
    text.rstrip()
    return text


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
