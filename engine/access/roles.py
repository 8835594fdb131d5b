"""Who may do what: the contract's four roles and the permissions each one holds.

``VIEWER`` reads; ``OPERATOR`` also retries, cancels and runs workflows; ``ADMIN`` also
edits workflows and runs maintenance; ``SUPER_ADMIN`` also manages users, tokens and
secrets. The console, CLI and API ask the same two functions, so a refusal reads the same
everywhere.
"""

from __future__ import annotations

from enum import StrEnum

from engine.statuses import Role


class Permission(StrEnum):
    """One kind of thing a person can do."""

    READ = "read"
    OPERATE = "operate"
    """Retry, cancel and run workflows."""
    EDIT = "edit"
    """Create, change, enable, disable, roll back and delete workflows; run maintenance."""
    MANAGE = "manage"
    """Users, API tokens and secrets."""


MINIMUM_ROLE = {
    Permission.READ: Role.VIEWER,
    Permission.OPERATE: Role.OPERATOR,
    Permission.EDIT: Role.ADMIN,
    Permission.MANAGE: Role.SUPER_ADMIN,
}
RANK = {role: rank for rank, role in enumerate(Role)}


class PermissionDenied(Exception):
    """The acting user's role does not allow the change."""


def allows(role: str, permission: Permission) -> bool:
    """Whether ``role`` (a Role value) holds ``permission``; unknown roles hold nothing."""
    try:
        return RANK[Role(role)] >= RANK[MINIMUM_ROLE[permission]]
    except ValueError:
        return False


def denial(role: str, permission: Permission) -> str | None:
    """Why ``role`` may not do it (one short line), or None when it may."""
    if allows(role, permission):
        return None
    return f"needs {MINIMUM_ROLE[permission].value} (you are {role})"


def require(role: str, permission: Permission) -> None:
    """Raise ``PermissionDenied`` with the reason unless ``role`` holds ``permission``."""
    reason = denial(role, permission)
    if reason is not None:
        raise PermissionDenied(reason)
