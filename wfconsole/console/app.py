"""The console application: sections as Textual modes, help, and the command palette.

The app is the one ``ConsoleHost`` (``host.py``): screens reach the operator, the role
checks and the few things they ask of the app through that protocol, never this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual import work
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from engine.access.roles import Permission, denial
from engine.config import ConsoleSettings
from engine.services.health import HealthReport
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.screens.help import HelpScreen
from wfconsole.console.sections import SECTIONS, Section
from wfconsole.console.views.execution_filter import ExecutionFilter
from wfconsole.console.views.key_help import KeyGroup, KeyHelp
from wfconsole.console.widgets.safe_text import clean

if TYPE_CHECKING:
    from wfconsole.console.screens.workflows import WorkflowsScreen


@runtime_checkable
class Reloadable(Protocol):
    """A screen that can fetch its data again on request."""

    def reload(self) -> None:
        """Fetch the screen's data again (in a worker)."""


def screen_commands(
    app: WfConsoleApp, screen: Screen[object]
) -> list[tuple[str, str, Callable[[], object]]]:
    """Every key binding of ``screen`` and its widgets as a palette command.

    A binding its ``check_action`` disables (say, retry for a VIEWER) is still listed, with
    the reason; choosing it tells the reason instead of acting. A screen gives the reason
    through an optional ``denial_for(action) -> str | None``.
    """
    commands: list[tuple[str, str, Callable[[], object]]] = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if active.node is app or not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        keys = app.get_key_display(binding) or key
        if active.enabled:
            run = partial(app.run_action, binding.action, active.node)
            commands.append((binding.description, f"({keys}) on this screen", run))
            continue
        denial_for = getattr(active.node, "denial_for", None)
        reason = (denial_for(binding.action) if callable(denial_for) else None) or (
            "not available here"
        )
        tell = partial(app.notify, f"{binding.description}: {reason}", severity="warning")
        commands.append((binding.description, f"({keys}) unavailable: {reason}", tell))
    return commands


class ConsoleCommands(Provider):
    """Command-palette entries for moving around the console."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        assert isinstance(app, WfConsoleApp)
        commands: list[tuple[str, str, Callable[[], object]]] = [
            (f"Go to {s.title.lower()}", f"Show the {s.title.lower()} ({s.key})",
             partial(app.action_show_section, s.mode))
            for s in SECTIONS
        ]  # fmt: skip
        commands.extend(screen_commands(app, self.screen))
        commands.append(("Refresh", "Load the current screen's data again", app.action_reload))
        commands.append(("Quit", "Leave the console (q)", app.action_quit))
        return commands

    async def discover(self) -> Hits:
        """Every command, shown before anything is typed."""
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """Commands matching what was typed, best first."""
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)


class WfConsoleApp(App[None]):
    """The wfconsole terminal console over a ``ConsoleBackend``."""

    TITLE = "wfconsole"
    CSS_PATH = [
        "app.tcss",
        "screens/workflows.tcss",
        "screens/executions.tcss",
        "screens/execution_detail.tcss",
        "screens/blast_radius.tcss",
        "screens/help.tcss",
        "screens/dashboard.tcss",
        "screens/editor.tcss",
        "screens/dry_run.tcss",
        "screens/discard_changes.tcss",
        "screens/confirm.tcss",
        "screens/run_workflow.tcss",
        "screens/template_picker.tcss",
        "screens/failures.tcss",
        "screens/failure_cluster.tcss",
        "screens/workflow_versions.tcss",
        "screens/maintenance.tcss",
    ]
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        *(Binding(s.key, f"show_section('{s.mode}')", s.title) for s in SECTIONS),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    backend: ConsoleBackend
    operator: str
    role: str
    console_settings: ConsoleSettings

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        operator: str,
        console_settings: ConsoleSettings | None = None,
        initial_section: str = "executions",
    ) -> None:
        super().__init__()
        self.backend = backend
        self.operator = operator
        self.console_settings = console_settings or ConsoleSettings()
        self.initial_section = initial_section
        self.role = "VIEWER"
        """The operator's role, read from the database on mount (VIEWER until then)."""
        self.health: HealthReport | None = None
        """The database's and queue's state as last checked (None until the first check)."""
        for section in SECTIONS:
            self.add_mode(section.mode, partial(self._section_screen, section))

    def _section_screen(self, section: Section) -> Screen[None]:
        """A section's screen, marked as styled by the CSS the app has already parsed.

        Textual gives a mode's first screen an unknown CSS generation and so re-parses
        every stylesheet, twice, when it mounts (~200 ms on a first visit to a section).
        Our screens have no CSS of their own, and the widgets' ``DEFAULT_CSS`` is parsed
        as each widget registers, so nothing is stale. Should Textual rename the private
        counter, this assignment does nothing and the first visit is slow again.
        """
        screen = section.build(self.backend, self.console_settings)
        screen._css_update_count = self._css_update_count
        return screen

    async def on_mount(self) -> None:
        """Show where the console is attached, then open the first section."""
        info = self.backend.describe()
        self.role = self.backend.user_role(self.operator)
        self.sub_title = clean(
            f"{self.operator} ({self.role}) · queue {info.queue_kind} · {info.database_url}"
        )
        self.set_interval(self.console_settings.refresh_interval, self._check_health)
        await self.switch_mode(self.initial_section)

    def show_health(self, report: HealthReport) -> None:
        """Show in the header whether the database and the queue answer."""
        info = self.backend.describe()
        database = "db ok" if report.database.ok else "db DOWN"
        if report.replica is not None and not report.replica.ok:
            database += " · replica DOWN"
        queue = f"{info.queue_kind} queue {'ok' if report.queue.ok else 'DOWN'}"
        self.health = report
        self.sub_title = clean(
            f"{database} · {queue} · {self.operator} ({self.role}) · {info.database_url}"
        )

    def _check_health(self) -> None:
        try:
            screen = self.screen
        except ScreenStackError:
            return  # between modes, or closing: the next tick will do
        # The dashboard's own refresh reports health while it is shown.
        if not getattr(screen, "REPORTS_HEALTH", False):
            self._fetch_health()

    @work(thread=True, exclusive=True, exit_on_error=False, group="app-health")
    def _fetch_health(self) -> None:
        self.call_from_thread(self.show_health, self.backend.health())

    async def action_show_section(self, mode: str) -> None:
        """Switch to a section (its screens keep their state between visits)."""
        await self.switch_mode(mode)

    async def on_workflows_screen_workflow_chosen(
        self, message: WorkflowsScreen.WorkflowChosen
    ) -> None:
        """Show the executions of the workflow the operator opened."""
        await self.show_executions(ExecutionFilter(workflow=message.name, workflow_exact=True))

    async def show_executions(self, execution_filter: ExecutionFilter) -> None:
        """Switch to the execution list, back at its top level, showing ``execution_filter``."""
        await self.switch_mode("executions")
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        screen = self.screen
        if isinstance(screen, ExecutionsScreen):
            screen.set_filter(execution_filter)

    def denied(self, permission: Permission) -> str | None:
        """Why the operator may not do something needing ``permission``, or None."""
        return denial(self.role, permission)

    def allowed_action(self, permission: Permission) -> bool | None:
        """For a screen's ``check_action``: True when allowed, None (shown disabled) if not."""
        return True if self.denied(permission) is None else None

    def action_reload(self) -> None:
        """Reload the current screen's data."""
        if isinstance(self.screen, Reloadable):
            self.screen.reload()

    def action_help(self) -> None:
        """Open the key list for the console and the current screen."""
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(self.key_groups(self.screen)))

    def key_groups(self, screen: Screen[object]) -> list[KeyGroup]:
        """The bindings active on ``screen``, grouped by where they are defined."""
        groups: dict[str, list[KeyHelp]] = {}
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is self:
                title = "Console"
            elif active.node is screen:
                title = screen.title or type(screen).__name__
            else:
                title = getattr(active.node, "HELP_GROUP", type(active.node).__name__)
            description = binding.description or binding.action
            groups.setdefault(title, []).append(KeyHelp(self.get_key_display(binding), description))
        order = ["Console", screen.title or type(screen).__name__]
        titles = sorted(groups, key=lambda t: order.index(t) if t in order else len(order))
        return [KeyGroup(title, tuple(groups[title])) for title in titles]

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's commands (theme, keys, screenshot) minus the Quit we already offer."""
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command
