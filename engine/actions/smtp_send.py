"""SMTP delivery of one message with smtplib, bounded by a deadline, errors classified.

Implicit TLS (SMTPS) when ``smtp.secure``; otherwise STARTTLS whenever the server offers
it. A login over a connection without TLS is refused rather than sending the password in
clear. SMTP 4xx replies, connection failures and timeouts are transient; 5xx replies,
authentication failures and TLS certificate failures are permanent.
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

from engine.actions.errors import ActionError
from engine.outbound.destinations import destination
from engine.outbound.gate import begin_call, end_call


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to deliver: the ``smtp`` config section with the password revealed."""

    host: str
    port: int
    secure: bool
    user: str
    password: str = field(repr=False)
    timeout: float
    verify_tls: bool = True
    ca_file: str = ""


@dataclass
class Delivery:
    """The server's answer: recipients it accepted and those it refused (with its reply)."""

    accepted: list[str]
    refused: dict[str, str]


def tls_context(server: SmtpServer) -> ssl.SSLContext:
    """The TLS settings for `server`: verified against system or configured CAs, or not."""
    context = ssl.create_default_context(cafile=server.ca_file or None)
    if not server.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def deliver(
    server: SmtpServer,
    message: EmailMessage,
    sender: str,
    recipients: list[str],
    deadline: float,
) -> Delivery:
    """Send `message` to `recipients` (the envelope, Bcc included) before `deadline`.

    `deadline` is a ``time.monotonic()`` value. Raises ActionError when no recipient got
    the message; a partial refusal is reported in the returned Delivery instead, because
    sending again would duplicate the message for those who got it.
    """
    call = begin_call(destination(server.host, server.port))
    try:
        delivery = _deliver_mapped(server, message, sender, recipients, deadline)
    except ActionError as exc:
        end_call(call, error=True, transient=exc.transient)
        raise
    end_call(call, error=False)
    return delivery


def _deliver_mapped(
    server: SmtpServer,
    message: EmailMessage,
    sender: str,
    recipients: list[str],
    deadline: float,
) -> Delivery:
    """``_deliver``, its failures turned into ActionErrors."""
    try:
        return _deliver(server, message, sender, recipients, deadline)
    except ActionError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise _reply_error("SMTP login failed", exc.smtp_code, exc.smtp_error) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise _refused_error(exc.recipients) from None
    except smtplib.SMTPResponseException as exc:
        raise _reply_error("SMTP server refused", exc.smtp_code, exc.smtp_error) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise ActionError(f"SMTP server does not support {exc}", transient=False) from None
    except ssl.SSLCertVerificationError as exc:
        raise ActionError(
            f"SMTP TLS certificate rejected: {exc.verify_message} "
            "(set smtp.ca_file, or smtp.verify_tls = false for a test server)",
            transient=False,
        ) from None
    except ssl.SSLError as exc:
        raise ActionError(f"SMTP TLS failed: {exc.reason or exc}", transient=False) from None
    except TimeoutError:
        raise ActionError(
            f"SMTP server {server.host}:{server.port} timed out", transient=True
        ) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise ActionError(f"SMTP server disconnected: {exc}", transient=True) from None
    except OSError as exc:
        detail = exc.strerror or str(exc) or type(exc).__name__
        raise ActionError(
            f"cannot connect to SMTP server {server.host}:{server.port}: {detail}",
            transient=True,
        ) from None


def _deliver(
    server: SmtpServer,
    message: EmailMessage,
    sender: str,
    recipients: list[str],
    deadline: float,
) -> Delivery:
    timeout = _time_left(server, deadline)
    context = tls_context(server)
    smtp: smtplib.SMTP
    if server.secure:
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    with smtp:
        _tighten(smtp, server, deadline)
        smtp.ehlo()
        if not server.secure and smtp.has_extn("starttls"):
            _tighten(smtp, server, deadline)
            smtp.starttls(context=context)
            smtp.ehlo()
        if server.user:
            if not server.secure and not isinstance(smtp.sock, ssl.SSLSocket):
                raise ActionError(
                    "SMTP server does not offer STARTTLS; refusing to send the login in clear",
                    transient=False,
                )
            _tighten(smtp, server, deadline)
            smtp.login(server.user, server.password)
        return _transaction(smtp, server, message, sender, recipients, deadline)


def _transaction(
    smtp: smtplib.SMTP,
    server: SmtpServer,
    message: EmailMessage,
    sender: str,
    recipients: list[str],
    deadline: float,
) -> Delivery:
    """MAIL, RCPT per recipient, DATA — each command bounded by the time left."""
    options: list[str] = []
    policy = email.policy.SMTP
    if not all(address.isascii() for address in (sender, *recipients)):
        if not smtp.has_extn("smtputf8"):
            raise ActionError(
                "SMTP server does not accept non-ASCII addresses (no SMTPUTF8)", transient=False
            )
        options, policy = ["SMTPUTF8"], email.policy.SMTPUTF8
    _tighten(smtp, server, deadline)
    code, reply = smtp.mail(sender, options)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    accepted: list[str] = []
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in recipients:
        _tighten(smtp, server, deadline)
        code, reply = smtp.rcpt(recipient)
        if code in (250, 251):
            accepted.append(recipient)
        else:
            refused[recipient] = (code, reply)
    if not accepted:
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    _tighten(smtp, server, deadline)
    code, reply = smtp.data(message.as_bytes(policy=policy))
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return Delivery(
        accepted=accepted,
        refused={addr: _reply_text(c, r) for addr, (c, r) in refused.items()},
    )


def _time_left(server: SmtpServer, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ActionError("workflow timeout reached before the email was sent", transient=True)
    return min(server.timeout, left)


def _tighten(smtp: smtplib.SMTP, server: SmtpServer, deadline: float) -> None:
    """Give the next command no more than the time left before the deadline."""
    if smtp.sock is not None:
        smtp.sock.settimeout(_time_left(server, deadline))


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {text}".strip()[:500]


def _reply_error(what: str, code: int, reply: bytes | str) -> ActionError:
    """4xx is a temporary refusal (retry); anything else is final."""
    transient = 400 <= code < 500
    return ActionError(
        f"{what}: {_reply_text(code, reply)}", transient=transient, data={"smtp_code": code}
    )


def _refused_error(refused: dict[str, tuple[int, bytes]]) -> ActionError:
    """Every recipient refused: transient only when each refusal was temporary (4xx)."""
    transient = all(400 <= code < 500 for code, _ in refused.values())
    shown = {addr: _reply_text(code, reply) for addr, (code, reply) in refused.items()}
    first = next(iter(shown.values()), "")
    return ActionError(
        f"SMTP server refused every recipient: {first}",
        transient=transient,
        data={"refused": shown},
    )
