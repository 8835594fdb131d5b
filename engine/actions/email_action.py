"""The ``email`` action: one message over SMTP to To, Cc and (envelope-only) Bcc recipients.

The Message-ID is derived from the step's idempotency key, so a message sent again after
an ambiguous failure (a timeout after DATA) carries the same id and receivers that
deduplicate on it show it once.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from typing import Any

from engine.actions.errors import ActionError
from engine.actions.smtp_send import SmtpServer, deliver
from engine.actions.step_context import ActionOutput, StepContext

_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")


def run_email(fields: dict[str, Any], ctx: StepContext) -> ActionOutput:
    """Send the rendered email through the configured SMTP server."""
    smtp = ctx.settings.smtp
    if not smtp.host:
        raise ActionError("email is not configured: set smtp.host (SMTP_HOST)", transient=False)
    sender = smtp.from_address or smtp.user
    if not sender:
        raise ActionError(
            "email is not configured: set smtp.from_address (SMTP_FROM)", transient=False
        )
    to = _addresses(fields.get("to"), "to")
    cc = _addresses(fields.get("cc"), "cc")
    bcc = _addresses(fields.get("bcc"), "bcc")
    message = build_message(fields, sender=sender, to=to, cc=cc, key=ctx.idempotency_key)
    server = SmtpServer(
        host=smtp.host,
        port=smtp.port,
        secure=smtp.secure,
        user=smtp.user,
        password=smtp.password.get_secret_value(),
        timeout=smtp.timeout,
        verify_tls=smtp.verify_tls,
        ca_file=smtp.ca_file,
    )
    envelope = list(dict.fromkeys(_bare(address) for address in [*to, *cc, *bcc]))
    delivery = deliver(server, message, _bare(sender), envelope, ctx.deadline)
    summary = f"email sent to {len(delivery.accepted)} recipient(s)"
    if delivery.refused:
        summary += f", {len(delivery.refused)} refused"
    return ActionOutput(
        data={
            "message_id": message["Message-ID"],
            "accepted": delivery.accepted,
            "refused": delivery.refused,
        },
        summary=summary,
    )


def build_message(
    fields: dict[str, Any], *, sender: str, to: list[str], cc: list[str], key: str
) -> EmailMessage:
    """The MIME message: plain text, or multipart/alternative when HTML is given. No Bcc."""
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
        message["Subject"] = str(fields.get("subject") or "")
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id(key, sender)
    except (ValueError, TypeError) as exc:
        raise ActionError(f"invalid email header: {exc}", transient=False) from None
    message.set_content(str(fields.get("body") or ""))
    html = fields.get("html")
    if html:
        message.add_alternative(str(html), subtype="html")
    return message


def message_id(key: str, sender: str) -> str:
    """A Message-ID that is the same for every attempt of one step."""
    left = _NOT_ATEXT.sub("-", f"wf.{key.replace(':', '.')}").strip(".")
    domain = _bare(sender).rpartition("@")[2] or "wfconsole.invalid"
    return f"<{left}@{_NOT_ATEXT.sub('-', domain)}>"


def _addresses(value: Any, name: str) -> list[str]:
    """Rendered addresses (references were resolved from the definition's text); one entry
    may hold several."""
    items = [value] if isinstance(value, str) else list(value or [])
    found: list[str] = []
    for item in items:
        text = str(item).strip()
        for display, address in getaddresses([text]):
            try:
                if not _valid(address):
                    raise ValueError(address)
                found.append(str(Address(display, addr_spec=address)) if display else address)
            except (ValueError, IndexError, TypeError):
                raise ActionError(
                    f"{name}: invalid email address {address!r}", transient=False
                ) from None
    return found


def _valid(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and "." in domain and not re.search(r"[\s<>,;]", address))


def _bare(address: str) -> str:
    """The addr-spec of a possibly named address (``Name <a@b>`` → ``a@b``)."""
    pairs = getaddresses([address])
    return pairs[0][1] if pairs and pairs[0][1] else address
