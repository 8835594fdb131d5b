"""``wfconsole secrets status | rotate | generate-key``: the encrypted secrets in definitions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from wfconsole.cli.command_table import Command, Group, Row
from wfconsole.cli.context import current_user, opened_database

if TYPE_CHECKING:
    from engine.db import Database


def status_command(args: argparse.Namespace) -> int:
    """Print the counts; exit 1 when a secret cannot be decrypted."""
    from engine.security.crypto import SecretKeyError
    from engine.services.secrets import secrets_status

    with opened_database(args, user_errors=(SecretKeyError,)) as db:
        report = secrets_status(db)
        keys = _key_count(db)
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


def _key_count(db: Database) -> str:
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

    refusals = (SecretKeyError, PermissionDenied)
    with opened_database(args, user_errors=refusals, prefix="secrets rotate: ") as db:
        report = rotate_secrets(db, actor=current_user(args))
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


COMMANDS: tuple[Row, ...] = (
    Group("secrets", "encrypted secrets: status, key rotation", metavar="ACTION",
          common_options=True),
    Command(("secrets", "status"), status_command,
            "count stored secrets and check that every one decrypts"),
    Command(("secrets", "rotate"), rotate_command,
            "re-encrypt every stored secret under the newest ENCRYPTION_KEY key"),
    Command(("secrets", "generate-key"), generate_key_command,
            "print a new key for ENCRYPTION_KEY"),
)  # fmt: skip
