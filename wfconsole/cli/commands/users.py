"""``wfconsole user list | add | set-role | remove``: who may use wfconsole, and as what.

Every one needs SUPER_ADMIN and every change is audited. The last SUPER_ADMIN can be
neither demoted nor removed; removing a user revokes their API tokens.
"""

from __future__ import annotations

import argparse
import json

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.context import current_user, opened_database
from wfconsole.cli.errors import UserError
from wfconsole.cli.output import print_table, timestamp
from wfconsole.cli.paging import output_arguments, output_format, print_jsonl

ROLE_HELP = "VIEWER, OPERATOR, ADMIN or SUPER_ADMIN"


def list_command(args: argparse.Namespace) -> int:
    """Print the active users by name."""
    from engine.services.users import list_users

    output_format(args)
    with opened_database(args) as db:
        users = list_users(db, actor=current_user(args))
    rows = [
        {
            "user": u.username,
            "role": u.role,
            "active_tokens": u.active_tokens,
            "created_at": timestamp(u.created_at),
        }
        for u in users
    ]
    if args.jsonl:
        print_jsonl(rows)
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_table(["USER", "ROLE", "TOKENS", "CREATED"], [[str(v) for v in r.values()] for r in rows])
    return 0


def add_command(args: argparse.Namespace) -> int:
    """Add one user with the given role."""
    from engine.services.users import UserConflict, add_user

    with opened_database(args, user_errors=(ValueError, UserConflict)) as db:
        added = add_user(db, args.name, args.role, actor=current_user(args))
    print(f"{added.username}: added as {added.role}")
    return 0


def set_role_command(args: argparse.Namespace) -> int:
    """Change one user's role."""
    from engine.services.users import UserConflict, UserNotFound, set_role

    refusals = (ValueError, UserConflict, UserNotFound)
    with opened_database(args, user_errors=refusals) as db:
        change = set_role(db, args.name, args.role, actor=current_user(args))
    if change.previous == change.role:
        print(f"{change.username}: already {change.role}")
    else:
        print(f"{change.username}: {change.previous} -> {change.role}")
    return 0


def remove_command(args: argparse.Namespace) -> int:
    """Remove one user after ``--yes``; their API tokens are revoked with them."""
    from engine.services.users import UserConflict, UserNotFound, remove_user

    if not args.yes:
        raise UserError(f"--yes: removing {args.name!r} also revokes their API tokens; confirm")
    with opened_database(args, user_errors=(UserConflict, UserNotFound)) as db:
        removed = remove_user(db, args.name, actor=current_user(args))
    revoked = f"{removed.revoked_tokens} token(s) revoked"
    print(f"{removed.username}: removed (was {removed.role}; {revoked})")
    return 0


NAME = arg("name", metavar="NAME")
COMMANDS: tuple[Row, ...] = (
    Group("user", "users and their roles (SUPER_ADMIN)"),
    Command(("user", "list"), list_command, "active users with their roles",
            output_arguments()),
    Command(("user", "add"), add_command, "add a user (or restore a removed one) with a role",
            (NAME, arg("--role", required=True, metavar="ROLE", help=ROLE_HELP))),
    Command(("user", "set-role"), set_role_command, "change a user's role",
            (NAME, arg("role", metavar="ROLE", help=ROLE_HELP))),
    Command(("user", "remove"), remove_command, "disable a user and revoke their API tokens",
            (NAME, arg("--yes", action="store_true",
                       help="confirm: their tokens stop working"))),
)  # fmt: skip
