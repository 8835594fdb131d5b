"""What console screens use of the app they run in, so they never import the app.

``WfConsoleApp`` is the one ``ConsoleHost``; a screen reaches it with ``console_host``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from engine.access.roles import Permission
    from engine.services.health import HealthReport
    from wfconsole.console.views.execution_filter import ExecutionFilter


@dataclass(frozen=True)
class SectionTab:
    """A section as the header's tab bar shows it: its key, its title and its mode, and
    the short title the bar uses when the full ones leave no room for ``? help``."""

    key: str
    title: str
    mode: str
    short: str = ""


class ConsoleHost(Protocol):
    """The operator, their role and the few things a screen asks the console to do."""

    section_tabs: tuple[SectionTab, ...]
    """The sections, in tab-bar order (the header draws them; their keys work anywhere)."""

    operator: str
    """Who the console acts as (the audit log's actor)."""
    role: str
    """The operator's stored role; a restore may change it (the screen sets it again)."""

    def denied(self, permission: Permission) -> str | None:
        """Why the operator may not do something needing ``permission``, or None."""
        ...

    def allowed_action(self, permission: Permission) -> bool | None:
        """For a screen's ``check_action``: True when allowed, None (shown disabled) if not."""
        ...

    def show_health(self, report: HealthReport) -> None:
        """Show in the header whether the database and the queue answer."""
        ...

    async def show_executions(self, execution_filter: ExecutionFilter) -> None:
        """Switch to the execution list showing ``execution_filter``."""
        ...


def console_host(node: DOMNode) -> ConsoleHost:
    """The console app ``node`` runs in."""
    return cast("ConsoleHost", node.app)
