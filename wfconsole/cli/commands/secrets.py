"""``wfconsole secrets status | rotate | generate-key``: the encrypted secrets in definitions."""

from __future__ import annotations

import argparse
from typing import Any

from wfconsole.commands import CommonOptions


def register(commands: Any, common: CommonOptions) -> None:
    """Add ``secrets status``, ``secrets rotate`` and ``secrets generate-key``."""
    secrets = commands.add_parser("secrets", help="encrypted secrets: status, key rotation")
    common(secrets)
    actions = secrets.add_subparsers(dest="secrets_command", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status", help="count stored secrets and check that every one decrypts"
    )
    common(status)
    status.set_defaults(handler=status_command)
    rotate = actions.add_parser(
        "rotate", help="re-encrypt every stored secret under the newest ENCRYPTION_KEY key"
    )
    common(rotate)
    rotate.set_defaults(handler=rotate_command)
    generate = actions.add_parser("generate-key", help="print a new key for ENCRYPTION_KEY")
    common(generate)
    generate.set_defaults(handler=generate_key_command)


def status_command(args: argparse.Namespace) -> int:
    """Print the counts; exit 1 when a secret cannot be decrypted."""
    from engine.security.crypto import SecretKeyError
    from engine.services.secrets import secrets_status
    from wfconsole.cli import UserError
    from wfconsole.commands.context import database_for

    db = database_for(args)
    try:
        report = secrets_status(db)
        keys = _key_count(db)
    except SecretKeyError as exc:
        raise UserError(str(exc)) from None
    finally:
        db.dispose()
    print(f"encrypted   {report.encrypted} in {report.rows} definition(s) (with versions)")
    print(f"keys        {keys}")
    if report.plaintext:
        print(f"plaintext   {report.plaintext} (saved before encryption: run `secrets rotate`)")
    for where in report.unreadable[:10]:
        print(f"unreadable  {where}")
    if report.unreadable:
        print(f"status      {len(report.unreadable)} cannot be decrypted with ENCRYPTION_KEY")
        return 1
    print("status      ok")
    return 0


def _key_count(db: Any) -> str:
    from engine.security.crypto import SecretKeyError

    try:
        return str(db.vault.key_count)
    except SecretKeyError as exc:
        return f"none ({exc})"


def rotate_command(args: argparse.Namespace) -> int:
    """Re-encrypt everything in one transaction and print the counts."""
    from engine.access.roles import PermissionDenied
    from engine.security.crypto import SecretKeyError
    from engine.services.secrets import rotate_secrets
    from wfconsole.cli import UserError, current_user
    from wfconsole.commands.context import database_for

    db = database_for(args)
    try:
        report = rotate_secrets(db, actor=current_user(args))
    except (SecretKeyError, PermissionDenied) as exc:
        raise UserError(f"secrets rotate: {exc}") from None
    finally:
        db.dispose()
    print(
        f"rotated {report.encrypted} secret(s) to the newest key"
        + (f", encrypted {report.plaintext} stored in clear" if report.plaintext else "")
        + f" ({report.rows} definition(s) with versions)"
    )
    return 0


def generate_key_command(args: argparse.Namespace) -> int:
    """Print a new Fernet key (put it first in ENCRYPTION_KEY, then run ``rotate``)."""
    from engine.security.crypto import generate_key

    print(generate_key())
    return 0
