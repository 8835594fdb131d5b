"""Turning a definition value into the real secret: ``${NAME}`` references and ``enc:v1:``.

A ``${NAME}`` value lives in the environment, not the row; an ``enc:v1:`` value is
decrypted with the deployment's keys (engine/security/crypto.py). Every caller that needs a secret
from a definition goes through ``resolve``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from engine.security.crypto import SecretKeyError, Vault, is_encrypted

ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
EMBEDDED_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingSecret(Exception):
    """A secret the definition refers to is unavailable (unset variable, undecryptable value)."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"environment variable {name} is not set")
        self.name = name


def resolve(
    value: str, environ: Mapping[str, str] | None = None, *, vault: Vault | None = None
) -> str:
    """``value`` itself, the variable it names when it is exactly ``${NAME}``, or its
    plaintext when it is an ``enc:v1:`` value (which needs ``vault``).

    Raises MissingSecret naming the variable or ENCRYPTION_KEY, never the value.
    """
    if is_encrypted(value):
        if vault is None:
            raise MissingSecret("ENCRYPTION_KEY", "an encrypted secret needs ENCRYPTION_KEY")
        try:
            return vault.decrypt(value)
        except SecretKeyError as exc:
            raise MissingSecret("ENCRYPTION_KEY", str(exc)) from None
    match = ENV_REFERENCE.match(value)
    if match is None:
        return value
    env = os.environ if environ is None else environ
    resolved = env.get(match.group(1))
    if resolved is None:
        raise MissingSecret(match.group(1))
    return resolved


def expand(
    value: str, environ: Mapping[str, str] | None = None, *, vault: Vault | None = None
) -> str:
    """Like ``resolve``, and also every ``${NAME}`` inside a longer value
    (``Bearer ${API_TOKEN}``): for header values, where a scheme precedes the credential.
    """
    if is_encrypted(value) or ENV_REFERENCE.match(value):
        return resolve(value, environ, vault=vault)
    env = os.environ if environ is None else environ

    def variable(match: re.Match[str]) -> str:
        found = env.get(match.group(1))
        if found is None:
            raise MissingSecret(match.group(1))
        return found

    return EMBEDDED_REFERENCE.sub(variable, value)
