"""``wfconsole token create | list | revoke``: bearer tokens for the REST API.

Anyone may create, list and revoke their own tokens (a token acts with its owner's role,
so it grants nothing new); tokens of other users need SUPER_ADMIN. A token is only ever
created for an active user: ``--for-user`` naming a removed user or nobody, or a removed
user asking for their own, is one line on stderr and exit 1. The plaintext is printed
once, at creation; only its SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import json
import sys

from wfconsole.cli.command_table import Command, Group, Row, arg
from wfconsole.cli.context import current_user, opened_database
from wfconsole.cli.output import print_table, timestamp
from wfconsole.cli.paging import output_arguments, output_format, print_jsonl

JSON_OUTPUT = arg("--json", action="store_true", help="machine-readable output")


def create_command(args: argparse.Namespace) -> int:
    """Create a token; the plaintext goes to stdout once."""
    from engine.access.roles import PermissionDenied
    from engine.services.tokens import create_token
    from engine.services.users import UserNotFound

    refusals = (PermissionDenied, ValueError, UserNotFound)
    prefix = "cannot create the token: "
    with opened_database(args, user_errors=refusals, prefix=prefix) as db:
        created = create_token(db, actor=current_user(args), name=args.name, for_user=args.for_user)
    info = created.info
    if args.json:
        print(json.dumps({"id": info.id, "user": info.username, "name": info.name,
                          "token": created.token}))  # fmt: skip
    else:
        print(created.token)
        # The note goes to stderr so `TOKEN=$(wfconsole token create …)` captures the token.
        print(
            f"token {info.id} ({info.name}) for {info.username}: shown once, store it now",
            file=sys.stderr,
        )
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print tokens without their secrets."""
    from engine.services.tokens import list_tokens

    output_format(args)
    with opened_database(args) as db:
        tokens = list_tokens(db, actor=current_user(args))
    rows = [
        {
            "id": t.id,
            "user": t.username,
            "name": t.name,
            "prefix": t.prefix,
            "created_at": timestamp(t.created_at),
            "last_used_at": timestamp(t.last_used_at),
            "revoked_at": timestamp(t.revoked_at),
        }
        for t in tokens
    ]
    if args.jsonl:
        print_jsonl(rows)
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_table(
        ["ID", "USER", "NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"],
        [[str(r[key] or "") for key in r] for r in rows],
    )
    return 0


def revoke_command(args: argparse.Namespace) -> int:
    """Revoke a token; requests with it get 401 from then on."""
    from engine.access.roles import PermissionDenied
    from engine.services.tokens import TokenNotFound, revoke_token

    refusals = (PermissionDenied, TokenNotFound)
    prefix = f"cannot revoke token {args.id}: "
    with opened_database(args, user_errors=refusals, prefix=prefix) as db:
        changed = revoke_token(db, args.id, actor=current_user(args))
    print(f"token {args.id}: {'revoked' if changed else 'already revoked'}")
    return 0


COMMANDS: tuple[Row, ...] = (
    Group("token", "API tokens: create, list, revoke"),
    Command(
        ("token", "create"), create_command, "create a token and print it once",
        (arg("--name", required=True, help="what the token is for"),
         arg("--for-user", metavar="USER",
             help="owner, an active user (default: you; others need SUPER_ADMIN)"),
         JSON_OUTPUT),
    ),
    Command(("token", "list"), list_command, "your tokens (everyone's for a SUPER_ADMIN)",
            output_arguments()),
    Command(("token", "revoke"), revoke_command, "revoke a token at once",
            (arg("id", type=int, metavar="ID"),)),
)  # fmt: skip
