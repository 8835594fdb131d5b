"""Small helpers shared by the console tests: roles, notifications, the maintenance log, keys."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from textual.pilot import Pilot
from textual.widgets import Log

from engine.db import Database, session_scope
from engine.models import User
from tests.console.conftest import Settle
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.maintenance import MaintenanceScreen


def set_role(db: Database, username: str, role: str) -> None:
    with session_scope(db) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            session.add(User(username=username, role=role))
        else:
            user.role = role


def notes(app: WfConsoleApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def log_text(app: WfConsoleApp) -> str:
    screen = app.screen
    assert isinstance(screen, MaintenanceScreen)
    return "\n".join(screen.query_one("#maintenance-log", Log).lines)


async def press_settled(pilot: Pilot[Any], settle: Settle, *keys: str) -> None:
    """``pilot.press(*keys)``, then wait for the app to settle."""
    await pilot.press(*keys)
    await settle(pilot)
