"""``wfconsole user list | add | set-role | remove``: who may use wfconsole, and as what.

Every one needs SUPER_ADMIN and every change is audited. The last SUPER_ADMIN can be
neither demoted nor removed; removing a user revokes their API tokens.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from wfconsole.commands import CommonOptions

ROLE_HELP = "VIEWER, OPERATOR, ADMIN or SUPER_ADMIN"


def register(commands: Any, common: CommonOptions) -> None:
    """Add the ``user`` group."""
    group = commands.add_parser("user", help="users and their roles (SUPER_ADMIN)")
    sub = group.add_subparsers(dest="user_command", metavar="COMMAND", required=True)

    listing = sub.add_parser("list", help="active users with their roles")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    common(listing)
    listing.set_defaults(handler=list_command)

    add = sub.add_parser("add", help="add a user (or restore a removed one) with a role")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, metavar="ROLE", help=ROLE_HELP)
    common(add)
    add.set_defaults(handler=add_command)

    set_role = sub.add_parser("set-role", help="change a user's role")
    set_role.add_argument("name", metavar="NAME")
    set_role.add_argument("role", metavar="ROLE", help=ROLE_HELP)
    common(set_role)
    set_role.set_defaults(handler=set_role_command)

    remove = sub.add_parser("remove", help="disable a user and revoke their API tokens")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--yes", action="store_true", help="confirm: their tokens stop working")
    common(remove)
    remove.set_defaults(handler=remove_command)


def list_command(args: argparse.Namespace) -> int:
    """Print the active users by name."""
    from engine.services.users import list_users
    from wfconsole.cli import current_user
    from wfconsole.commands.context import with_database
    from wfconsole.commands.output import print_table, timestamp

    users = with_database(args, lambda db: list_users(db, actor=current_user(args)))
    rows = [
        {
            "user": u.username,
            "role": u.role,
            "active_tokens": u.active_tokens,
            "created_at": timestamp(u.created_at),
        }
        for u in users
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_table(["USER", "ROLE", "TOKENS", "CREATED"], [[str(v) for v in r.values()] for r in rows])
    return 0


def add_command(args: argparse.Namespace) -> int:
    """Add one user with the given role."""
    from engine.services.users import UserConflict, add_user
    from wfconsole.cli import current_user
    from wfconsole.commands.context import with_database

    added = with_database(
        args,
        lambda db: add_user(db, args.name, args.role, actor=current_user(args)),
        user_errors=(ValueError, UserConflict),
    )
    print(f"{added.username}: added as {added.role}")
    return 0


def set_role_command(args: argparse.Namespace) -> int:
    """Change one user's role."""
    from engine.services.users import UserConflict, UserNotFound, set_role
    from wfconsole.cli import current_user
    from wfconsole.commands.context import with_database

    change = with_database(
        args,
        lambda db: set_role(db, args.name, args.role, actor=current_user(args)),
        user_errors=(ValueError, UserConflict, UserNotFound),
    )
    if change.previous == change.role:
        print(f"{change.username}: already {change.role}")
    else:
        print(f"{change.username}: {change.previous} -> {change.role}")
    return 0


def remove_command(args: argparse.Namespace) -> int:
    """Remove one user after ``--yes``; their API tokens are revoked with them."""
    from engine.services.users import UserConflict, UserNotFound, remove_user
    from wfconsole.cli import UserError, current_user
    from wfconsole.commands.context import with_database

    if not args.yes:
        raise UserError(f"--yes: removing {args.name!r} also revokes their API tokens; confirm")
    removed = with_database(
        args,
        lambda db: remove_user(db, args.name, actor=current_user(args)),
        user_errors=(UserConflict, UserNotFound),
    )
    revoked = f"{removed.revoked_tokens} token(s) revoked"
    print(f"{removed.username}: removed (was {removed.role}; {revoked})")
    return 0
