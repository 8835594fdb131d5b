"""The confirmation of a bulk retry or cancel, showing its blast radius first.

``BlastRadiusScreen(radius)`` is a ``ModalScreen[bool]``: it dismisses with True when the
operator confirms (``y``) and False otherwise (``n``, ``escape``, or the "keep" button,
which has the focus so a stray ``enter`` changes nothing). Any screen that computed a
``BlastRadius`` (the execution list, a failure cluster) can push it; a resume or a
destination release pushes a ``ChangePreview`` (``views/flow_preview.py``) instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from wfconsole.console.views.blast_radius_text import VERBS, describe, headline
from wfconsole.console.views.flow_preview import ChangePreview

if TYPE_CHECKING:
    from engine.services.blast_radius import BlastRadius


class BlastRadiusScreen(ModalScreen[bool]):
    """Asks to confirm a bulk action after showing what it would change."""

    BINDINGS = [
        Binding("y", "confirm", "Confirm"),
        Binding("n", "keep", "Keep as is"),
        Binding("escape", "keep", "Keep as is", show=False),
    ]

    def __init__(self, radius: BlastRadius | ChangePreview) -> None:
        super().__init__()
        self.radius = radius

    def compose(self) -> ComposeResult:
        """Question, facts, buttons."""
        radius = self.radius
        if isinstance(radius, ChangePreview):
            title, body, label = radius.headline, radius.body, f"{radius.verb} (y)"
        else:
            verb = VERBS[radius.action][0]
            title, body = headline(radius), describe(radius)
            label = f"{verb} {radius.changes:,} (y)"
        with Vertical(id="blast-radius-dialog"):
            yield Static(title, id="blast-radius-title", markup=False)
            yield Static(body, id="blast-radius-body")
            with Horizontal(id="blast-radius-buttons"):
                if radius.changes:
                    yield Button(label, variant="warning", id="confirm")
                yield Button("Keep as is (esc)", id="keep")

    def on_mount(self) -> None:
        """The safe button has the focus."""
        self.query_one("#keep", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Nothing to confirm when nothing would change."""
        if action == "confirm":
            return bool(self.radius.changes) or None
        return True

    def action_confirm(self) -> None:
        """Go ahead."""
        self.dismiss(True)

    def action_keep(self) -> None:
        """Change nothing."""
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The buttons do what the keys do."""
        event.stop()
        self.dismiss(event.button.id == "confirm")
