"""Each section's screen, imported when the section is first opened.

Importing every screen at start-up pulled in the editor, dry runs, the outbound action
clients and the maintenance jobs before the first row could show; a section's modules
now load on its first visit (the executions screen, the default section, loads at once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from wfconsole.app import WfConsoleApp


def dashboard_screen(app: WfConsoleApp) -> Screen[None]:
    """The dashboard."""
    from wfconsole.screens.dashboard import DashboardScreen

    return DashboardScreen(app.backend, refresh_interval=app.console_settings.refresh_interval)


def workflows_screen(app: WfConsoleApp) -> Screen[None]:
    """The workflow list."""
    from wfconsole.screens.workflows import WorkflowsScreen

    return WorkflowsScreen(app.backend)


def executions_screen(app: WfConsoleApp) -> Screen[None]:
    """The execution list."""
    from wfconsole.screens.executions import ExecutionsScreen

    return ExecutionsScreen(app.backend, refresh_interval=app.console_settings.refresh_interval)


def failures_screen(app: WfConsoleApp) -> Screen[None]:
    """The failure clusters."""
    from wfconsole.screens.failures import FailuresScreen

    return FailuresScreen(app.backend, refresh_interval=app.console_settings.refresh_interval)


def maintenance_screen(app: WfConsoleApp) -> Screen[None]:
    """Maintenance jobs and backups."""
    from wfconsole.screens.maintenance import MaintenanceScreen

    return MaintenanceScreen(app.backend)
