"""The console application: sections as Textual modes, help, and the command palette.

The app is the one ``ConsoleHost`` (``host.py``): screens reach the operator, the role
checks and the few things they ask of the app through that protocol, never this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from textual import work
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from engine.access.roles import Permission, denial
from wfconsole.console.backend import (
    BackendUnavailable,
    ConsoleBackend,
    RefreshSettings,
    answer_now,
)
from wfconsole.console.host import SectionTab
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.sections import SECTIONS, Section
from wfconsole.console.stylesheets import FIRST_SCREEN_CSS, later_css_paths
from wfconsole.console.views.execution_filter import (
    ExecutionFilter,
    FilterSyntaxError,
    parse_filter,
)
from wfconsole.console.views.key_help import KeyGroup, attached_group, merged_keys
from wfconsole.console.widgets.safe_text import clean

if TYPE_CHECKING:
    from engine.services.health import HealthReport
    from wfconsole.console.backend import BackendInfo
    from wfconsole.console.screens.workflows import WorkflowsScreen

STARTUP_GROUP = "app-start"
FIRST_SECTION = "executions"
"""The section whose stylesheet is read at start (``stylesheets.FIRST_SCREEN_CSS``)."""


def _default_console_settings() -> RefreshSettings:
    """``ConsoleSettings()``, imported only when no settings are given (tests, embedding):
    ``wfconsole`` passes its own, so its first screen does not wait for pydantic."""
    from engine.config import ConsoleSettings

    return ConsoleSettings()


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

    views: tuple[tuple[str, str], ...] = ()
    """(name, filter text) of the saved views, read when the palette opens."""

    async def startup(self) -> None:
        """Read the saved views once per opening of the palette (off the event loop)."""
        app = self.app
        assert isinstance(app, WfConsoleApp)
        self.views = tuple(await asyncio.to_thread(app.read_saved_views))

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        assert isinstance(app, WfConsoleApp)
        commands: list[tuple[str, str, Callable[[], object]]] = [
            (f"Go to {s.title.lower()}", f"Show the {s.title.lower()} ({s.key})",
             partial(app.action_show_section, s.mode))
            for s in SECTIONS
        ]  # fmt: skip
        commands.extend(
            (f"View: {clean(name)}", f"Executions filtered by {clean(text)}",
             partial(app.apply_view, name, text))
            for name, text in self.views
        )  # fmt: skip
        here = screen_commands(app, self.screen)
        if not any(name == "Schedules" for name, _, _ in here):  # the workflows list has it
            commands.append(("Schedules", "Schedule triggers, their gaps and backfill (s on "
                             "workflows)", app.action_show_schedules))  # fmt: skip
        commands.extend(here)
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
    CSS_PATH = FIRST_SCREEN_CSS
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        *(Binding(s.key, f"show_section('{s.mode}')", s.title) for s in SECTIONS),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    backend: ConsoleBackend
    operator: str
    role: str
    console_settings: RefreshSettings
    section_tabs = tuple(SectionTab(s.key, s.title, s.mode, s.short) for s in SECTIONS)

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        operator: str,
        console_settings: RefreshSettings | None = None,
        initial_section: str = FIRST_SECTION,
        after_first_page: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.operator = operator
        self.console_settings = console_settings or _default_console_settings()
        self.initial_section = initial_section
        self.after_first_page = after_first_page
        """Run in a thread once the first screen has its data and the health is known
        (``wfconsole`` starts the embedded worker there, not before the first rows)."""
        self.role = "VIEWER"
        """The operator's role, read from the database at start (VIEWER until then)."""
        self.health: HealthReport | None = None
        """The database's and queue's state as last checked (None until the first check)."""
        self.info: BackendInfo | None = None
        """The database and queue the console is attached to (None until first read)."""
        self._role_known = False
        self._later_css_loaded = False
        self._show_status()
        for section in SECTIONS:
            self.add_mode(section.mode, partial(self._section_screen, section))

    def _section_screen(self, section: Section) -> Screen[None]:
        """A section's screen, marked as styled by the CSS the app has already parsed.

        Textual gives a mode's first screen an unknown CSS generation and so re-parses
        every stylesheet, twice, when it mounts (~200 ms on a first visit to a section).
        Our screens have no CSS of their own, and the widgets' ``DEFAULT_CSS`` is parsed
        as each widget registers, so nothing is stale. Should Textual rename the private
        counter, this assignment does nothing and the first visit is slow again. (Textual
        has no public way to say so: it refreshes on a mode's first screen since
        Textualize/textual#5211, "could be improved upon … avoiding a CSS refresh when not
        strictly required"; this goes when it is.)
        """
        if section.mode != FIRST_SECTION:
            self.load_later_css()
        screen = section.build(self.backend, self.console_settings)
        screen._css_update_count = self._css_update_count
        return screen

    async def on_mount(self) -> None:
        """Open the first section; read the role and the health as soon as its first page
        is in (before it they would compete with it), then start what waits for both.

        With early answers (``OpeningBackend`` over the plain reads) the first page and the
        health are read here, on the event loop, in a few milliseconds: they are drawn in
        the first frame rather than one frame and a worker's round trip later."""
        self.set_interval(self.console_settings.refresh_interval, self._check_health)
        await self.switch_mode(self.initial_section)  # its first page may be in already
        health_shown = self._show_health_at_hand()
        self.call_after_refresh(self._after_first_page, health_shown)

    def _show_health_at_hand(self) -> bool:
        """Show the health in the first frame when the backend has it without blocking
        (read plainly); False when it must be fetched after the first page."""
        info = answer_now(self.backend, "describe")
        report = answer_now(self.backend, "health") if info is not None else None
        if report is None:
            return False
        self.info = info
        self.show_health(report)
        return True

    def _after_first_page(self, health_shown: bool) -> None:
        first = [w for w in self.workers if w.group != STARTUP_GROUP]
        start = self._start_the_rest(first, health_shown)
        self.run_worker(start, group=STARTUP_GROUP, exit_on_error=False)

    async def _start_the_rest(self, first: list[Worker[object]], health_shown: bool) -> None:
        if first:  # (an empty list would mean every worker, this one too)
            await self.workers.wait_for_complete(first)
        # Health first: reading the role loads the ORM, which would hold the health back
        # (on another thread, but it holds the interpreter while the header repaints).
        if not health_shown:
            await self.workers.wait_for_complete([self._fetch_health()])
        await self._after_repaints(2)
        self.load_later_css()
        await self.workers.wait_for_complete([self._fetch_role()])
        if self.after_first_page is not None:
            self._run_after_first_page()

    async def _after_repaints(self, count: int) -> None:
        """Return once the screen has been drawn ``count`` times more (the header hears
        of a new health through a watcher: it repaints on the second)."""
        for _ in range(count):
            drawn = asyncio.Event()
            self.call_after_refresh(drawn.set)
            await drawn.wait()

    def load_later_css(self) -> None:
        """Read every other screen's stylesheet (``stylesheets.py``): once, before any
        screen but the first is shown."""
        if self._later_css_loaded:
            return
        self._later_css_loaded = True
        for path in later_css_paths():
            self.stylesheet.read(path)
        self.refresh_css(animate=False)

    def push_screen(self, *args: Any, **kwargs: Any) -> Any:
        """Textual's ``push_screen``, the pushed screen's stylesheet read first."""
        self.load_later_css()
        return super().push_screen(*args, **kwargs)

    @work(thread=True, exit_on_error=False, group=STARTUP_GROUP)
    def _run_after_first_page(self) -> None:
        if self.after_first_page is not None:
            self.after_first_page()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Say so when what starts after the first page failed (the embedded worker)."""
        worker = event.worker
        if worker.group == STARTUP_GROUP and event.state == WorkerState.ERROR:
            self.notify(f"start-up: {clean(worker.error)}", severity="error", markup=False)

    @work(thread=True, exclusive=True, exit_on_error=False, group="app-role")
    def _fetch_role(self) -> None:
        try:
            role = self.backend.user_role(self.operator)
        except BackendUnavailable:
            self.call_from_thread(self.exit, return_code=1)  # the caller says why
            return
        self.call_from_thread(self._show_role, role)

    def _show_role(self, role: str) -> None:
        self.role, self._role_known = role, True
        self._show_status()
        self.screen.refresh_bindings()  # keys gated by the role show enabled now

    def show_health(self, report: HealthReport) -> None:
        """Show in the header whether the database and the queue answer."""
        self.health = report
        self._show_status()

    def _show_status(self) -> None:
        """The header's status: health first, then the operator, always in that shape."""
        database, queue = "db …", "queue …"
        report = self.health
        if report is not None:
            database = "db ok" if report.database.ok else "db DOWN"
            if report.replica is not None and not report.replica.ok:
                database += " · replica DOWN"
            kind = f"{self.info.queue_kind} queue" if self.info is not None else "queue"
            queue = f"{kind} {'ok' if report.queue.ok else 'DOWN'}"
        role = self.role if self._role_known else "…"
        self.sub_title = clean(f"{database} · {queue} · {self.operator} ({role})")

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
        if self.info is None:
            self.info = self.backend.describe()
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

    def read_saved_views(self) -> list[tuple[str, str]]:
        """(name, filter text) of each saved view; none when they cannot be read (blocks:
        call it off the event loop)."""
        try:
            return [(view.name, view.filter) for view in self.backend.saved_views()]
        except Exception as exc:  # a hand-broken file must not break the palette
            self.call_from_thread(
                self.notify, clean(f"saved views: {exc}"), severity="error", markup=False
            )
            return []

    async def apply_view(self, name: str, text: str) -> None:
        """Show the executions through the saved view ``name``."""
        try:
            view = parse_filter(text)
        except FilterSyntaxError as exc:
            self.notify(clean(f"view {name}: {exc}"), severity="error", markup=False)
            return
        await self.show_executions(view)

    async def action_show_schedules(self) -> None:
        """Open the schedules board over the workflows section."""
        from wfconsole.console.screens.schedules import SchedulesScreen  # loaded on first use

        await self.switch_mode("workflows")
        if not isinstance(self.screen, SchedulesScreen):
            await self.push_screen(SchedulesScreen(self.backend))

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
        from wfconsole.console.screens.help import HelpScreen  # loaded on first use

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(self.key_groups(self.screen)))

    def key_groups(self, screen: Screen[object]) -> list[KeyGroup]:
        """The bindings active on ``screen``, grouped by where they are defined (keys
        doing the same thing on one line), then what the console is attached to."""
        groups: dict[str, list[tuple[str, str, str]]] = {}
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is self:
                title = "Console"
            elif active.node is screen:
                title = screen.title or type(screen).__name__
            else:
                title = getattr(active.node, "HELP_GROUP", type(active.node).__name__)
            description = binding.description or binding.action
            groups.setdefault(title, []).append(
                (binding.action, self.get_key_display(binding), description)
            )
        order = ["Console", screen.title or type(screen).__name__]
        titles = sorted(groups, key=lambda t: order.index(t) if t in order else len(order))
        keys = [KeyGroup(title, merged_keys(groups[title])) for title in titles]
        if self.info is not None:
            keys.append(attached_group(self.info.database_url, self.info.queue_location))
        return keys

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's commands (theme, keys, screenshot) minus the Quit we already offer."""
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command
