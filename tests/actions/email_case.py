"""The email action in the contract suite: aiosmtpd with STARTTLS and login on loopback."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

from tests.actions.contract import CANARY, HANG, ActionCase, Staged
from tests.actions.smtp_peer import USER, free_port, make_certificate, silent_server, smtp_server

# failure name -> how the server refuses (which reply to which command)
_RCPT_REFUSALS = {
    "recipient_busy": "450 4.2.1 mailbox busy",
    "recipient_unknown": "550 5.1.1 no such user",
}
_DATA_REFUSALS = {
    "data_deferred": "451 4.3.0 try again later",
    "data_rejected": "554 5.7.1 rejected as spam",
}


class EmailCase(ActionCase):
    """The SMTP password is the canary; the server checks it on login."""

    action_type = "email"
    failures = {
        "recipient_busy": True,
        "recipient_unknown": False,
        "data_deferred": True,
        "data_rejected": False,
        "login_failed": False,
        "connection_refused": True,
    }
    hang_transient = True

    def stage(self, behaviour: str, stack: ExitStack) -> Staged:
        directory = Path(tempfile.mkdtemp(prefix="wf-smtp-"))
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
        certificate = make_certificate(directory)
        if behaviour == HANG:
            port = stack.enter_context(silent_server())
        elif behaviour == "connection_refused":
            port = free_port()
        else:
            password = "another-password" if behaviour == "login_failed" else CANARY
            peer = stack.enter_context(smtp_server(certificate, password=password))
            peer.rcpt_replies["ops"] = _RCPT_REFUSALS.get(behaviour, "")
            peer.data_reply = _DATA_REFUSALS.get(behaviour, "250 OK")
            port = peer.port
        return Staged(
            fields={"to": ["ops@example.com"], "subject": "Invoice 7", "body": "Hello"},
            config={
                "smtp": {
                    "host": "127.0.0.1",
                    "port": port,
                    "user": USER,
                    "password": CANARY,
                    "from_address": "wf@example.com",
                    "ca_file": str(certificate.cert_file),
                }
            },
        )
