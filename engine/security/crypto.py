"""Secrets at rest: definition values encrypted with Fernet under ``ENCRYPTION_KEY``.

An encrypted value is the string ``enc:v1:<fernet token>`` and lives inside the
definition JSON where the plaintext would be. Fernet is authenticated (AES-128-CBC +
HMAC-SHA256), so a wrong key or a tampered token fails loudly instead of decrypting to
garbage. ``security.encryption_key`` / ``ENCRYPTION_KEY`` lists Fernet keys
comma-separated, newest first: the first encrypts, all of them decrypt (MultiFernet), so
keys rotate by putting a new one in front and running ``wfconsole secrets rotate``.

Without a configured key, a SQLite deployment generates one into
``<data dir>/encryption.key`` (mode 0600) the first time a secret is stored; a PostgreSQL
deployment (several hosts share the database) refuses to store a secret until
``ENCRYPTION_KEY`` is set. Error messages name the key setting, never a value.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from engine.config import Settings, data_dir
from engine.security.private_files import ensure_private_dir

PREFIX = "enc:v1:"
KEY_FILE_NAME = "encryption.key"
log = logging.getLogger("wfconsole.crypto")


class SecretKeyError(Exception):
    """No usable key for an encrypted value; the message names ENCRYPTION_KEY, never a value."""


class KeyConfigError(SecretKeyError):
    """ENCRYPTION_KEY is missing or malformed (as opposed to: it does not open this value)."""


def is_encrypted(value: object) -> bool:
    """Whether ``value`` is an ``enc:v1:`` string written by a Vault."""
    return isinstance(value, str) and value.startswith(PREFIX)


def generate_key() -> str:
    """A new random Fernet key (what ENCRYPTION_KEY takes)."""
    return Fernet.generate_key().decode("ascii")


def _parse_keys(text: str) -> list[Fernet]:
    keys = []
    for position, part in enumerate(p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            keys.append(Fernet(part.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise KeyConfigError(
                f"ENCRYPTION_KEY: key {position + 1} is not a Fernet key (32 url-safe "
                "base64-encoded bytes; `wfconsole secrets generate-key` makes one)"
            ) from None
    return keys


class Vault:
    """Encrypts and decrypts ``enc:v1:`` values with the configured (or local) keys.

    Keys are read lazily: a deployment that stores no secret never needs one.
    ``key_file`` is where a SQLite deployment keeps a generated key; None means a key
    must be configured (PostgreSQL).
    """

    def __init__(self, keys: str = "", *, key_file: Path | None = None) -> None:
        self._keys_text = keys
        self._key_file = key_file
        self._fernet: MultiFernet | None = None
        self._key_count = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, is_sqlite: bool) -> Vault:
        """The vault of a deployment: its configured keys, else a local key file on SQLite."""
        keys = settings.security.encryption_key.get_secret_value()
        return cls(keys, key_file=data_dir() / KEY_FILE_NAME if is_sqlite else None)

    @property
    def configured(self) -> bool:
        """Whether ENCRYPTION_KEY holds at least one key."""
        return any(part.strip() for part in self._keys_text.split(","))

    @property
    def key_count(self) -> int:
        """How many keys may decrypt (configured ones, or the local key file)."""
        self._multi(create=False)
        return self._key_count

    def _multi(self, *, create: bool) -> MultiFernet:
        with self._lock:
            if self._fernet is None:
                # MultiFernet keeps its keys private (a Rust class since cryptography 51):
                # count them here rather than reading its internals.
                keys = self._load(create=create)
                self._fernet = MultiFernet(keys)
                self._key_count = len(keys)
            return self._fernet

    def _load(self, *, create: bool) -> list[Fernet]:
        if self.configured:
            return _parse_keys(self._keys_text)
        if self._key_file is None:
            raise KeyConfigError(
                "ENCRYPTION_KEY is not set: a PostgreSQL deployment needs it to store or read "
                "secrets (set security.encryption_key, or use ${ENV_VAR} references)"
            )
        try:
            return _parse_keys(self._key_file.read_text())
        except FileNotFoundError:
            if not create:
                raise KeyConfigError(
                    f"ENCRYPTION_KEY is not set and {self._key_file} does not exist: "
                    "cannot decrypt stored secrets"
                ) from None
        return _parse_keys(_create_key_file(self._key_file))

    def encrypt(self, plaintext: str) -> str:
        """``enc:v1:<token>`` under the newest key (a local key is generated on first need)."""
        token = self._multi(create=True).encrypt(plaintext.encode("utf-8"))
        return PREFIX + token.decode("ascii")

    def decrypt(self, value: str) -> str:
        """The plaintext of an ``enc:v1:`` value; SecretKeyError when no key opens it."""
        if not is_encrypted(value):
            raise SecretKeyError("not an encrypted value (expected enc:v1:…)")
        try:
            plain = self._multi(create=False).decrypt(value[len(PREFIX) :].encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyError(
                "a stored secret cannot be decrypted with ENCRYPTION_KEY: wrong key, or the "
                "key it was encrypted with is no longer listed"
            ) from None
        return plain.decode("utf-8")

    def rotate(self, value: str) -> str:
        """The same secret re-encrypted under the newest key."""
        if not is_encrypted(value):
            raise SecretKeyError("not an encrypted value (expected enc:v1:…)")
        try:
            token = self._multi(create=False).rotate(value[len(PREFIX) :].encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyError(
                "a stored secret cannot be decrypted with any key in ENCRYPTION_KEY"
            ) from None
        return PREFIX + token.decode("ascii")


def _create_key_file(path: Path) -> str:
    ensure_private_dir(path.parent)
    key = generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    log.warning(
        "generated an encryption key for stored secrets at %s: back it up with the "
        "database, or set ENCRYPTION_KEY",
        path,
    )
    return key
