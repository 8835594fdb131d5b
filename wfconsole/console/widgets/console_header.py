"""The console's two header lines: the screen's title beside the health, then the tab bar.

Section keys live in the tab bar (as in k9s and lazydocker) so they always fit and the
footer is left to the screen's own keys. Both lines are fitted to the width: the status
drops its least important parts first (the operator), the tab bar's hints drop from the
right (``q quit``, then ``^p palette``), and when the full section titles leave no room
for ``? help`` the tabs use their short titles (``Maint`` for ``Maintenance``); nothing
runs off the edge.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from wfconsole.console.host import SectionTab, console_host

HINTS = (
    ("?", "help", "app.help"),
    ("^p", "palette", "app.command_palette"),
    ("q", "quit", "app.quit"),
)
"""The console-wide keys the tab bar shows on its right, most important first."""
SEPARATOR = " · "


class ConsoleHeader(Widget):
    """Title and health on the first line; the sections as tabs on the second."""

    DEFAULT_CSS = """
    ConsoleHeader {
        dock: top;
        height: 2;
        background: $panel;
        color: $foreground;
        & > .console-header--title { text-style: bold; }
        & > .console-header--status { color: $text-muted; }
        & > .console-header--ok { color: $text-success; }
        & > .console-header--down { color: $text-error; text-style: bold; }
        & > .console-header--tab { color: $text-muted; }
        & > .console-header--tab-key { color: $accent; text-style: bold; }
        & > .console-header--tab-active { background: $accent 40%; text-style: bold; }
        & > .console-header--hint { color: $text-muted; }
    }
    """
    COMPONENT_CLASSES = {
        "console-header--title",
        "console-header--status",
        "console-header--ok",
        "console-header--down",
        "console-header--tab",
        "console-header--tab-key",
        "console-header--tab-active",
        "console-header--hint",
    }

    def on_mount(self) -> None:
        """Redraw when the health line or the screen's title changes."""
        self.watch(self.app, "sub_title", self._changed, init=False)
        self.watch(self.screen, "title", self._changed, init=False)

    def _changed(self, _value: object) -> None:
        self.refresh()

    def render(self) -> Text:
        """Both lines, fitted to the widget's width."""
        width = self.size.width
        title = self.screen.title or self.app.title
        lines = Text("\n").join([self.title_line(title, width), self.tab_line(width)])
        lines.no_wrap = True
        return lines

    # --- the first line ------------------------------------------------------------------

    def title_line(self, title: str, width: int) -> Text:
        """`` title`` on the left, the status (health · operator) on the right."""
        line = Text(f" {title}", style=self._style("title"))
        line.truncate(width, overflow="ellipsis")
        parts = [p for p in str(self.app.sub_title).split(SEPARATOR) if p]
        room = width - line.cell_len - 3
        while parts and len(SEPARATOR.join(parts)) > room:
            parts.pop()  # the operator first, then the queue: the database stays longest
        if parts:
            status = self._status(parts)
            line.append(" " * (width - line.cell_len - status.cell_len - 1))
            line.append_text(status)
        return line

    def _status(self, parts: list[str]) -> Text:
        status = Text()
        for index, part in enumerate(parts):
            if index:
                status.append(SEPARATOR, style=self._style("status"))
            if part.endswith("DOWN"):
                kind = "down"
            elif part.endswith(" ok"):
                kind = "ok"
            else:
                kind = "status"
            status.append(part, style=self._style(kind))
        return status

    # --- the tab bar ---------------------------------------------------------------------

    def tab_line(self, width: int) -> Text:
        """The section tabs, the current one highlighted, then the console's hints."""
        current = self.app.current_mode
        tabs = console_host(self).section_tabs
        line = Text().join(self._tab(tab, active=tab.mode == current) for tab in tabs)
        if line.cell_len + self._hints(list(HINTS[:1])).cell_len > width:
            line = Text().join(
                self._tab(tab, active=tab.mode == current, short=True) for tab in tabs
            )
        hints = list(HINTS)
        while hints and line.cell_len + self._hints(hints).cell_len > width:
            hints.pop()
        if hints:
            shown = self._hints(hints)
            line.append(" " * (width - line.cell_len - shown.cell_len))
            line.append_text(shown)
        line.truncate(width)
        return line

    def _tab(self, tab: SectionTab, *, active: bool, short: bool = False) -> Text:
        click = Style.from_meta({"@click": f"app.show_section({tab.mode!r})"})
        title = (tab.short or tab.title) if short else tab.title
        if active:
            style = self._style("tab-active") + click
            return Text(f" {tab.key} {title} ", style=style)
        return Text.assemble(
            (" ", click),
            (tab.key, self._style("tab-key") + click),
            (f" {title} ", self._style("tab") + click),
        )

    def _hints(self, hints: list[tuple[str, str, str]]) -> Text:
        text = Text()
        for key, label, action in hints:
            click = Style.from_meta({"@click": action})
            text.append("  ")
            text.append(key, style=self._style("tab-key") + click)
            text.append(f" {label}", style=self._style("hint") + click)
        text.append(" ")
        return text

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"console-header--{name}", partial=True)
