"""Which definition fields hold secrets, and sealing them (encrypting literals) on save.

Secret-bearing fields: a webhook trigger's ``secret``, a slack/teams action's
``webhook_url``, and a webhook action's header values whose name looks like a credential
(Authorization, Cookie, X-Api-Key, anything with token/secret/key/password…). In those
fields a *literal* is encrypted on save; values with ``${ENV_VAR}`` references, templates
(``{{ … }}``, rendered from data at run time) and ``enc:v1:`` values are stored as written.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from engine.definitions.schema import DefinitionError
from engine.security.crypto import SecretKeyError, Vault, is_encrypted
from engine.security.env_references import EMBEDDED_REFERENCE

SECRET_HEADER = re.compile(
    r"auth|token|secret|key|passw|pwd|cookie|credential|signature|session", re.IGNORECASE
)
MASK = "••••••"
HIDDEN = "enc:v1:<encrypted>"
_CHAT_ACTIONS = frozenset({"slack", "teams"})
_TAG_KEY = os.urandom(32)

SecretSlot = tuple[str, dict[str, Any], str]
"""(JSON path, the dict holding the value, its key)."""


def is_secret_header(name: str) -> bool:
    """Whether a webhook header of this name carries a credential."""
    return bool(SECRET_HEADER.search(name))


def is_literal(value: object) -> bool:
    """A plaintext secret: not an encrypted value, and without ``${ENV}`` references or
    ``{{ templates }}`` (``Bearer ${API_TOKEN}`` names its secret; it does not hold one)."""
    return (
        isinstance(value, str)
        and bool(value)
        and not is_encrypted(value)
        and EMBEDDED_REFERENCE.search(value) is None
        and "{{" not in value
    )


def action_slots(action: dict[str, Any], path: str) -> Iterator[SecretSlot]:
    """The secret-bearing fields of one action (as a dict of its fields)."""
    kind = action.get("type")
    if kind in _CHAT_ACTIONS and isinstance(action.get("webhook_url"), str):
        yield f"{path}.webhook_url", action, "webhook_url"
    headers = action.get("headers")
    if kind == "webhook" and isinstance(headers, dict):
        for name, value in headers.items():
            if isinstance(value, str) and is_secret_header(str(name)):
                yield f"{path}.headers.{name}", headers, name


def secret_slots(document: dict[str, Any]) -> Iterator[SecretSlot]:
    """Every secret-bearing field of a definition document."""
    for index, trigger in enumerate(document.get("triggers") or []):
        if (
            isinstance(trigger, dict)
            and trigger.get("type") == "webhook"
            and isinstance(trigger.get("secret"), str)
        ):
            yield f"triggers[{index}].secret", trigger, "secret"
    for index, action in enumerate(document.get("actions") or []):
        if isinstance(action, dict):
            yield from action_slots(action, f"actions[{index}]")


def map_secrets(document: dict[str, Any], change: Callable[[str, str], str]) -> dict[str, Any]:
    """A deep copy of ``document`` with ``change(path, value)`` applied to every secret."""
    result = copy.deepcopy(document)
    for path, holder, key in list(secret_slots(result)):
        holder[key] = change(path, holder[key])
    return result


def _plaintext(vault: Vault, value: str, path: str) -> str:
    if not is_encrypted(value):
        return value
    try:
        return vault.decrypt(value)
    except SecretKeyError as exc:
        raise DefinitionError([(path, str(exc))]) from None


def seal(
    document: dict[str, Any], vault: Vault, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``document`` with every literal secret encrypted, ready to store.

    A secret whose plaintext equals the stored one (``previous``) keeps its stored token,
    so saving an unchanged definition changes nothing. An ``enc:v1:`` value must decrypt
    under the configured keys; a failure is a DefinitionError naming the field's path.
    """
    stored = {path: holder[key] for path, holder, key in secret_slots(previous or {})}

    def change(path: str, value: str) -> str:
        if not (is_literal(value) or is_encrypted(value)):
            return value
        plain = _plaintext(vault, value, path)
        old = stored.get(path)
        if isinstance(old, str) and is_encrypted(old):
            try:
                if vault.decrypt(old) == plain:
                    return old
            except SecretKeyError:
                pass
        if is_encrypted(value):
            return value
        try:
            return vault.encrypt(plain)
        except SecretKeyError as exc:
            raise DefinitionError([(path, str(exc))]) from None

    return map_secrets(document, change)


def display_value(value: Any, vault: Vault | None = None) -> Any:
    """A secret as it may be shown: ``${ENV}`` and templates as written, the rest masked.

    With a vault, an encrypted value shows a tag of its plaintext that is stable within
    this process only, so a diff shows whether a secret changed without revealing it.
    """
    if not isinstance(value, str) or not (is_literal(value) or is_encrypted(value)):
        return value
    if not is_encrypted(value):
        return MASK
    if vault is None:
        return HIDDEN
    try:
        plain = vault.decrypt(value)
    except SecretKeyError:
        return HIDDEN
    tag = hmac.new(_TAG_KEY, plain.encode("utf-8"), hashlib.sha256).hexdigest()[:8]
    return f"enc:v1:<encrypted #{tag}>"


def masked(document: dict[str, Any], vault: Vault | None = None) -> dict[str, Any]:
    """A copy of the document safe to show: every stored or literal secret masked."""
    return map_secrets(document, lambda _path, value: display_value(value, vault))


def mask_action_fields(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """One action's (rendered) fields, without ``type``, with the secret-bearing ones masked."""
    result = copy.deepcopy({**fields, "type": kind})
    for _path, holder, key in list(action_slots(result, "")):
        holder[key] = display_value(holder[key])
    del result["type"]
    return result


_FRAGMENT_CHARS = 10


def echo_fragments(secrets: Iterable[str]) -> list[str]:
    """``fragments`` of each secret in every spelling a peer may echo it back in: as is,
    JSON-escaped (control characters, quotes, backslashes, non-ASCII), and with ``/`` as
    ``\\/``. Longest first."""
    found: set[str] = set()
    for secret in secrets:
        escaped = json.dumps(secret)[1:-1]
        ascii_escaped = json.dumps(secret, ensure_ascii=True)[1:-1]
        for form in {secret, escaped, ascii_escaped, secret.replace("/", "\\/"),
                     escaped.replace("/", "\\/")}:  # fmt: skip
            found.update(fragments(form))
    return sorted(found, key=len, reverse=True)


def fragments(secret: str) -> list[str]:
    """What of a secret must not be echoed: the value, the token after an auth scheme
    (``Bearer <token>``), and a URL's long path segments, query values and password.

    Longest first, so a replacement never leaves a piece of a longer match behind.
    """
    found = {secret} if secret else set()
    found.update(part for part in secret.split() if len(part) >= _FRAGMENT_CHARS)
    if "://" in secret:
        try:
            parts = urlsplit(secret)
            pieces = [parts.path, *parts.path.split("/"), parts.password or ""]
            pieces += [value for _name, value in parse_qsl(parts.query)]
        except ValueError:
            pieces = []
        found.update(piece for piece in pieces if len(piece) >= _FRAGMENT_CHARS)
    return sorted(found, key=len, reverse=True)
