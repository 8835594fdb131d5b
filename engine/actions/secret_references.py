"""Secret references in a step's fields, taken from the definition's own text only.

Some fields may name a secret instead of holding a value: a webhook's credential headers
(``Bearer ${API_TOKEN}`` or an ``enc:v1:`` value), a chat action's ``webhook_url``, and the
addresses of email and SMS (``${ONCALL_EMAIL}``). The reference is resolved here from the
literal text of the definition, *before* templates are filled; what a ``{{ template }}``
produces is data and is never interpreted again. So trigger data that spells
``${SMTP_PASS}``, or an ``enc:v1:`` value copied from the API, stays that literal text and
can never be turned into a secret by a sender.

Two ways a field may refer:
- *whole*: the whole value is ``${NAME}`` or ``enc:v1:…`` (addresses, chat URLs);
- *embedded*: references inside the literal text too (``Bearer ${TOKEN}``), for headers
  where a scheme precedes the credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.actions.errors import ActionError
from engine.definitions.templating import render_value, render_with_literals
from engine.security.crypto import Vault
from engine.security.env_references import EMBEDDED_REFERENCE, MissingSecret, expand, resolve
from engine.security.secret_fields import is_secret_header

# Fields of WHOLE_REFERENCE_FIELDS that hold a credential (the rest are addresses).
SECRET_FIELDS = frozenset({"webhook_url"})
# Action type → its fields whose whole value may be a reference (a string or a list of them).
WHOLE_REFERENCE_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("to", "cc", "bcc"),
    "sms": ("to",),
    "slack": ("webhook_url",),
    "teams": ("webhook_url",),
}


def render_fields(
    kind: str,
    fields: dict[str, Any],
    context: Mapping[str, Any],
    *,
    vault: Vault | None,
    resolved: list[str] | None = None,
) -> dict[str, Any]:
    """The step's fields with templates filled and secret references resolved.

    The secret values resolved in credential headers and chat URLs are appended to
    ``resolved``, so the step can mask them wherever a peer echoes them back. Raises a
    permanent ActionError naming the field when a referenced secret is missing.
    """
    found: list[str] = [] if resolved is None else resolved
    rendered: dict[str, Any] = render_value(fields, context)
    for name in WHOLE_REFERENCE_FIELDS.get(kind, ()):
        raw = fields.get(name)
        if isinstance(raw, str):
            rendered[name] = _whole(raw, rendered[name], name, vault)
            if name in SECRET_FIELDS and rendered[name] != raw and "{{" not in raw:
                found.append(str(rendered[name]))
        elif isinstance(raw, list):
            rendered[name] = [
                _whole(item, rendered[name][index], f"{name}[{index}]", vault)
                if isinstance(item, str)
                else rendered[name][index]
                for index, item in enumerate(raw)
            ]
    headers = fields.get("headers")
    if kind == "webhook" and isinstance(headers, dict):
        for header, raw in headers.items():
            if isinstance(raw, str) and is_secret_header(str(header)):
                rendered["headers"][header] = _embedded(
                    raw, context, f"headers.{header}", vault, found
                )
    return rendered


def _whole(raw: str, rendered: Any, field: str, vault: Vault | None) -> Any:
    if "{{" in raw:
        # A template: its output is data, used exactly as rendered.
        return rendered
    try:
        return resolve(raw, vault=vault)
    except MissingSecret as exc:
        raise ActionError(f"{field}: {exc}", transient=False) from None


def _embedded(
    raw: str, context: Mapping[str, Any], field: str, vault: Vault | None, found: list[str]
) -> str:
    def literal(text: str) -> str:
        expanded = expand(text, vault=vault)
        if expanded != text:
            # The values substituted, each on its own: the rest of the header is no secret.
            names = EMBEDDED_REFERENCE.findall(text)
            if names:
                found.extend(resolve(f"${{{name}}}") for name in names)
            else:  # an enc:v1: value: the whole of it
                found.append(expanded)
        return expanded

    try:
        if "{{" not in raw:
            return literal(raw)
        return render_with_literals(raw, context, literal)
    except MissingSecret as exc:
        raise ActionError(f"{field}: {exc}", transient=False) from None
