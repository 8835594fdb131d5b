"""The ``?`` dialog's content: key bindings grouped by where they are defined."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text

from wfconsole.console.widgets.safe_text import clean


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


def merged_keys(bindings: Iterable[tuple[str, str, str]]) -> tuple[KeyHelp, ...]:
    """``(action, key, description)`` rows as help lines, keys that do the same thing on
    one line, the shortest first (``q ^q  Quit``), in the order first seen."""
    merged: dict[tuple[str, str], list[str]] = {}
    for action, key, description in bindings:
        keys = merged.setdefault((action, description), [])
        if key not in keys:
            keys.append(key)
    return tuple(
        KeyHelp(" ".join(sorted(keys, key=len)), description)
        for (_, description), keys in merged.items()
    )


def attached_group(database_url: str, queue_location: str) -> KeyGroup:
    """Where the console is attached (passwords already hidden), for the end of the help."""
    return KeyGroup(
        "Attached to",
        (KeyHelp("database", clean(database_url)), KeyHelp("queue", clean(queue_location))),
    )


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
