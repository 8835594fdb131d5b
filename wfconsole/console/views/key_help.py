"""The ``?`` dialog's content: key bindings grouped by where they are defined."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text


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
