"""The footer: the keys of the screen shown and of the widget in focus, on one fitted line.

The console's own keys (sections, help, palette, quit) are the header's; the footer is
left to what this screen does. One widget drawing one line, instead of Textual's
``Footer`` with a widget per key that rebuilds them all on every focus change and runs
off the right edge when the keys outgrow the width.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

ShownKey = tuple[str, str, str, bool]
"""The key to press, how it shows, what it does, whether it is enabled."""
MORE = "? more"


class ConsoleFooter(Widget):
    """The screen's keys; each can be clicked, and a disabled one shows dimmed."""

    DEFAULT_CSS = """
    ConsoleFooter {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-description-foreground;
        & > .console-footer--key { color: $footer-key-foreground; text-style: bold; }
        & > .console-footer--disabled { text-style: dim; }
    }
    """
    COMPONENT_CLASSES = {"console-footer--key", "console-footer--disabled"}

    def on_mount(self) -> None:
        """Redraw when the screen's bindings change (focus moved, a mode switched)."""
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        """Stop listening to the screen."""
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh()

    def shown_keys(self) -> list[ShownKey]:
        """The bindings to show: the focused widget's and the screen's, not the app's."""
        keys: list[ShownKey] = []
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if active.node is self.app or not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append(
                (key, self.app.get_key_display(binding), binding.description, active.enabled)
            )
        return keys

    def render(self) -> Text:
        """The keys, spaced two apart, then one apart; past that the last ones give way."""
        return fitted(self.shown_keys(), self.size.width, self._item)

    def _item(self, key: ShownKey) -> Text:
        press, display, description, enabled = key
        click = Style.from_meta({"@click": f"press({press!r})"})
        dim = Style() if enabled else self.get_component_rich_style("console-footer--disabled")
        key_style = self.get_component_rich_style("console-footer--key", partial=True)
        return Text.assemble((display, key_style + dim + click), (f" {description}", dim + click))

    def action_press(self, key: str) -> None:
        """A click on a key does what pressing it does."""
        self.app.simulate_key(key)


def fitted(keys: list[ShownKey], width: int, item: Callable[[ShownKey], Text]) -> Text:
    """``keys`` drawn by ``item`` on one line of ``width`` cells: every key when they fit
    (two spaces apart, or one when that is what it takes), else as many as fit and
    ``? more`` (the help lists them all)."""
    items = [item(key) for key in keys]
    for gap in ("  ", " "):
        line = Text.assemble(" ", Text(gap).join(items))
        if line.cell_len <= width:
            return line
    shown: list[Text] = []
    for piece in items:
        if 1 + sum(p.cell_len + 2 for p in [*shown, piece]) + len(MORE) > width:
            break
        shown.append(piece)
    more = Text(MORE, style="dim")
    return Text.assemble(" ", Text("  ").join([*shown, more]))
