"""The role ladder of the contract: each role holds its own permission and the ones below."""

from __future__ import annotations

import pytest

from engine.access.roles import Permission, PermissionDenied, allows, denial, require
from engine.models import Role

EXPECTED = {
    Role.VIEWER: {Permission.READ},
    Role.OPERATOR: {Permission.READ, Permission.OPERATE},
    Role.ADMIN: {Permission.READ, Permission.OPERATE, Permission.EDIT},
    Role.SUPER_ADMIN: set(Permission),
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_holds_exactly_its_permissions(role: Role) -> None:
    held = {permission for permission in Permission if allows(role.value, permission)}
    assert held == EXPECTED[role]


def test_denial_names_the_role_needed_and_the_role_held() -> None:
    assert denial("VIEWER", Permission.OPERATE) == "needs OPERATOR (you are VIEWER)"
    assert denial("ADMIN", Permission.EDIT) is None


def test_unknown_role_holds_nothing() -> None:
    assert not allows("ROOT", Permission.READ)
    with pytest.raises(PermissionDenied, match="needs VIEWER"):
        require("ROOT", Permission.READ)
