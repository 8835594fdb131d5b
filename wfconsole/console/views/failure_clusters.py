"""What the failure screens share: a cluster's row key and summary, and its retry.

``start_cluster_retry`` reads the cluster's execution ids in a worker, then hands them to
the screen's ``BulkActions`` (blast radius preview, confirmation, retry through the
backend with the operator's role).
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.screen import Screen

from engine.services.failures import FailureCluster
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.views.bulk_actions import BulkActions
from wfconsole.console.views.display import short_time
from wfconsole.console.widgets.safe_text import clean, safe_text

IDS_GROUP = "failure-cluster-ids"


def row_key(cluster: FailureCluster) -> str:
    """A table row key that stays the same for a cluster across refreshes."""
    key = cluster.key
    return "\x1f".join((key.workflow_id, key.action_type, key.signature))


def matches(cluster: FailureCluster, words: list[str]) -> bool:
    """True when every word occurs in the cluster's workflow, action, error or kind."""
    kind = "transient" if cluster.transient else "permanent"
    haystack = " ".join((cluster.workflow, cluster.action_type, cluster.signature, kind))
    return all(word in haystack.casefold() for word in words)


def summary_text(cluster: FailureCluster, since: datetime, shown: int, total: int) -> Text:
    """What the cluster shares, and how many of its executions are listed."""
    kind = ("transient", "yellow") if cluster.transient else ("permanent", "red")
    listed = f"{total:,}" if shown == total else f"newest {shown:,} of {total:,}"
    return Text.assemble(
        ("workflow ", "bold"), safe_text(cluster.workflow, max_length=40),
        ("  action ", "bold"), safe_text(cluster.action_type, max_length=24),
        ("  ", ""), kind,
        "\n", ("error    ", "bold"), safe_text(cluster.signature or "(no message)"),
        "\n", ("sample   ", "bold"), safe_text(cluster.sample_error or "(no message)"),
        "\n", f"{listed} executions since {short_time(since).plain} UTC",
    )  # fmt: skip


def start_cluster_retry(
    screen: Screen[None],
    backend: ConsoleBackend,
    cluster: FailureCluster,
    *,
    since: datetime,
    actor: str,
) -> None:
    """Read the cluster's ids in a worker, then preview and confirm their retry."""
    app = screen.app

    def load_ids() -> None:
        try:
            ids = backend.failure_cluster_ids(cluster.key, since=since)
        except Exception as exc:  # the database went away: say so, keep the screen
            message = clean(f"could not read the cluster: {exc}")
            app.call_from_thread(screen.notify, message, severity="error", markup=False)
            return
        app.call_from_thread(retry_ids, screen, ids, actor=actor)

    screen.run_worker(load_ids, thread=True, exclusive=True, group=IDS_GROUP)


def retry_ids(screen: Screen[None], ids: list[str], *, actor: str) -> None:
    """Preview, confirm and retry ``ids`` with the screen's ``BulkActions``."""
    if not ids:
        screen.notify("nothing left to retry in this cluster", severity="warning")
        return
    screen.query_one(BulkActions).start("retry", ids, actor=actor)
