"""Error reporting to Sentry when ``sentry.dsn`` (``SENTRY_DSN``) is set.

``init_sentry`` is called once at the start of every long-running process (worker,
serve, console, ``alerts check``); without a DSN it does nothing and sentry-sdk is not
even imported. Local variables and user details are not sent (``include_local_variables``
off, sentry-sdk's default of no personal data): workflow payloads and credentials live in
local variables.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from engine.config import Settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_active_dsn: str | None = None
# Sentry's levels for alert severities.
SENTRY_LEVELS = {"low": "info", "medium": "warning", "high": "error", "critical": "fatal"}


def init_sentry(settings: Settings) -> bool:
    """Start reporting to Sentry when a DSN is configured; True when reporting is on.

    Calling it again with the same DSN is a no-op, so every entry point may call it.
    """
    global _active_dsn
    dsn = settings.sentry.dsn.get_secret_value().strip()
    if not dsn:
        return False
    with _lock:
        if _active_dsn == dsn:
            return True
        import sentry_sdk

        try:
            sentry_sdk.init(
                dsn=dsn,
                environment=settings.sentry.environment,
                include_local_variables=False,
                max_breadcrumbs=50,
            )
        except Exception as exc:  # a malformed DSN must not stop the worker
            log.error("Sentry disabled: %s", type(exc).__name__)
            return False
        _active_dsn = dsn
    return True


def sentry_active() -> bool:
    """True while Sentry reporting is on in this process."""
    return _active_dsn is not None


def capture_alert(*, rule: str, subject: str, severity: str, message: str) -> None:
    """Report an opened alert to Sentry as a message (nothing when Sentry is off)."""
    if not sentry_active():
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("alert.rule", rule)
        scope.set_tag("alert.severity", severity)
        scope.set_tag("alert.subject", subject[:200])
        scope.fingerprint = ["wfconsole-alert", rule, subject]
        level: Any = SENTRY_LEVELS.get(severity, "warning")
        sentry_sdk.capture_message(f"alert {rule} on {subject}: {message}", level=level)


def shutdown_sentry(timeout: float = 2.0) -> None:
    """Send what is queued (up to ``timeout`` seconds) and stop reporting."""
    global _active_dsn
    with _lock:
        if _active_dsn is None:
            return
        import sentry_sdk

        client = sentry_sdk.get_client()
        client.flush(timeout=timeout)
        client.close(timeout=timeout)
        sentry_sdk.get_global_scope().set_client(None)
        _active_dsn = None
