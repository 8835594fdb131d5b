"""The console's sections (Textual modes): their keys, titles and screens.

Importing every screen at start-up pulled in the editor, dry runs, the outbound action
clients and the maintenance jobs before the first row could show; a section's modules
load on its first visit (the executions screen, the default section, loads at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from wfconsole.console.backend import ConsoleBackend, RefreshSettings

ScreenFactory = Callable[["ConsoleBackend", "RefreshSettings"], Screen[None]]


def dashboard_screen(backend: ConsoleBackend, settings: RefreshSettings) -> Screen[None]:
    """The dashboard."""
    from wfconsole.console.screens.dashboard import DashboardScreen

    return DashboardScreen(backend, refresh_interval=settings.refresh_interval)


def workflows_screen(backend: ConsoleBackend, settings: RefreshSettings) -> Screen[None]:
    """The workflow list."""
    from wfconsole.console.screens.workflows import WorkflowsScreen

    return WorkflowsScreen(backend)


def executions_screen(backend: ConsoleBackend, settings: RefreshSettings) -> Screen[None]:
    """The execution list."""
    from wfconsole.console.screens.executions import ExecutionsScreen

    return ExecutionsScreen(backend, refresh_interval=settings.refresh_interval)


def failures_screen(backend: ConsoleBackend, settings: RefreshSettings) -> Screen[None]:
    """The failure clusters."""
    from wfconsole.console.screens.failures import FailuresScreen

    return FailuresScreen(backend, refresh_interval=settings.refresh_interval)


def outbound_screen(backend: ConsoleBackend, settings: RefreshSettings) -> Screen[None]:
    """The destinations board (outbound calls, holds)."""
    from wfconsole.console.screens.outbound import OutboundScreen

    return OutboundScreen(backend, refresh_interval=settings.refresh_interval)


def maintenance_screen(backend: ConsoleBackend, settings: RefreshSettings) -> Screen[None]:
    """Maintenance jobs and backups."""
    from wfconsole.console.screens.maintenance import MaintenanceScreen

    return MaintenanceScreen(backend)


@dataclass(frozen=True)
class Section:
    """A top-level part of the console: a Textual mode with its key and screen."""

    mode: str
    key: str
    title: str
    build: ScreenFactory
    short: str = ""
    """The title in a tab bar too narrow for every full title (empty: the title)."""


SECTIONS = (
    Section("dashboard", "d", "Dashboard", dashboard_screen, "Dash"),
    Section("workflows", "w", "Workflows", workflows_screen, "Flows"),
    Section("executions", "x", "Executions", executions_screen, "Runs"),
    Section("failures", "f", "Failures", failures_screen, "Fails"),
    Section("outbound", "o", "Outbound", outbound_screen, "Out"),
    Section("maintenance", "m", "Maintenance", maintenance_screen, "Maint"),
)
