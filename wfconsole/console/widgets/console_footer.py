"""Textual's ``Footer``, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.widgets import Footer

ShownKeys = tuple[tuple[str, str, str, str, bool, str], ...]


class ConsoleFooter(Footer):
    """A ``Footer`` that skips rebuilding its keys when they would come out the same.

    Textual's footer rebuilds every key widget on each bindings signal (every focus
    change, every reactive declared with ``bindings=True``), and each rebuilt key restyles
    itself twice. Mounting the executions screen sent four signals for the same keys;
    the three repeats cost about a third of the time to first rows.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: ShownKeys | None = None

    def shown_keys(self) -> ShownKeys:
        """What the footer shows for the current screen's bindings."""
        keys = tuple(
            (key, binding.action, binding.description, self.app.get_key_display(binding),
             enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show
        )  # fmt: skip
        palette = ("palette", "", "", "", self.show_command_palette, "")
        return (*keys, palette)

    async def recompose(self) -> None:
        """Rebuild the keys, unless they are the ones already shown."""
        if not self.is_attached:
            return
        shown = self.shown_keys()
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()
