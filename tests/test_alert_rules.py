"""Alert rules on SQLite and PostgreSQL with a fixed clock: each opens an incident exactly
when its condition holds, once, and resolves it when the condition clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.alerts.incidents import AlertReport, evaluate_alerts, list_alerts
from engine.alerts.rules import previous_fire_time
from engine.config import Settings
from engine.db import Database
from engine.queue.heartbeat import write_beat
from tests.alert_seed import NOW, alert_settings, open_rows, runs, workflow
from tests.test_metrics import CountingQueue

FAILURES_ONLY = alert_settings(rules=["failure_rate"])


def opened(report: AlertReport) -> list[tuple[str, str, str]]:
    return [(row.rule, row.subject, row.severity) for row in report.opened]


# --- failure rate -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failed", "succeeded", "opens"),
    [
        pytest.param(6, 4, True, id="6-of-10-opens"),
        pytest.param(5, 5, False, id="5-of-10-is-not-above-half"),
        pytest.param(6, 3, False, id="6-of-9-is-too-few-runs"),
    ],
)
def test_failure_rate_opens_above_half_with_at_least_ten_runs(
    any_db: Database, failed: int, succeeded: int, opens: bool
) -> None:
    alpha = workflow(any_db, "alpha")
    runs(any_db, alpha, "FAILED", failed)
    runs(any_db, alpha, "SUCCESS", succeeded)
    report = evaluate_alerts(any_db, FAILURES_ONLY, now=NOW)
    assert opened(report) == ([("failure_rate", "alpha", "high")] if opens else [])


def test_failure_rate_message_names_the_counts(any_db: Database) -> None:
    alpha = workflow(any_db, "alpha")
    runs(any_db, alpha, "FAILED", 6)
    runs(any_db, alpha, "SUCCESS", 4)
    (row,) = evaluate_alerts(any_db, FAILURES_ONLY, now=NOW).opened
    assert row.message == "6 of 10 runs failed in the last 15 min (60% > 50%)"
    assert row.value == pytest.approx(0.6)


def test_failure_rate_counts_only_runs_finished_inside_the_window(any_db: Database) -> None:
    alpha = workflow(any_db, "alpha")
    runs(any_db, alpha, "FAILED", 6, completed=NOW - timedelta(minutes=16))
    runs(any_db, alpha, "SUCCESS", 4)
    runs(any_db, alpha, "CANCELLED", 5)
    runs(any_db, alpha, "SKIPPED", 5)
    assert evaluate_alerts(any_db, FAILURES_ONLY, now=NOW).opened == []


def test_failure_rate_is_per_workflow(any_db: Database) -> None:
    alpha, beta = workflow(any_db, "alpha"), workflow(any_db, "beta")
    runs(any_db, alpha, "FAILED", 6)
    runs(any_db, beta, "SUCCESS", 4)
    assert evaluate_alerts(any_db, FAILURES_ONLY, now=NOW).opened == []


def test_a_breach_still_there_at_the_next_evaluation_opens_nothing_more(any_db: Database) -> None:
    alpha = workflow(any_db, "alpha")
    runs(any_db, alpha, "FAILED", 10)
    evaluate_alerts(any_db, FAILURES_ONLY, now=NOW)
    again = evaluate_alerts(any_db, FAILURES_ONLY, now=NOW + timedelta(minutes=1))
    assert (again.opened, again.resolved) == ([], [])
    assert open_rows(any_db) == [("failure_rate", "alpha")]


def test_an_incident_resolves_when_the_condition_clears(any_db: Database) -> None:
    alpha = workflow(any_db, "alpha")
    runs(any_db, alpha, "FAILED", 10)
    evaluate_alerts(any_db, FAILURES_ONLY, now=NOW)
    later = NOW + timedelta(minutes=15)
    report = evaluate_alerts(any_db, FAILURES_ONLY, now=later)
    assert [(row.rule, row.subject, row.resolved_at) for row in report.resolved] == [
        ("failure_rate", "alpha", later)
    ]
    assert open_rows(any_db) == []


def test_a_new_breach_after_resolution_opens_a_new_incident(any_db: Database) -> None:
    alpha = workflow(any_db, "alpha")
    runs(any_db, alpha, "FAILED", 10)
    evaluate_alerts(any_db, FAILURES_ONLY, now=NOW)
    evaluate_alerts(any_db, FAILURES_ONLY, now=NOW + timedelta(minutes=20))
    runs(any_db, alpha, "FAILED", 10, completed=NOW + timedelta(minutes=29))
    report = evaluate_alerts(any_db, FAILURES_ONLY, now=NOW + timedelta(minutes=30))
    assert opened(report) == [("failure_rate", "alpha", "high")]
    assert [row.is_open for row in list_alerts(any_db)] == [True, False]


# --- queue depth ------------------------------------------------------------------------


@pytest.mark.parametrize(("queued", "opens"), [(1001, True), (1000, False)])
def test_queue_depth_opens_above_the_threshold(any_db: Database, queued: int, opens: bool) -> None:
    settings = alert_settings(rules=["queue_depth"], queue_depth_severity="critical")
    report = evaluate_alerts(any_db, settings, now=NOW, queue_counter=CountingQueue(queued))
    assert opened(report) == ([("queue_depth", "queue", "critical")] if opens else [])


def test_a_queue_that_does_not_answer_leaves_its_incident_open(any_db: Database) -> None:
    settings = alert_settings(rules=["queue_depth"])
    evaluate_alerts(any_db, settings, now=NOW, queue_counter=CountingQueue(5000))
    report = evaluate_alerts(any_db, settings, now=NOW, queue_counter=CountingQueue(down=True))
    assert report.resolved == []
    assert open_rows(any_db) == [("queue_depth", "queue")]


def test_without_a_queue_the_due_pending_executions_are_the_depth(any_db: Database) -> None:
    alpha = workflow(any_db, "alpha")
    runs(any_db, alpha, "PENDING", 3, created=NOW - timedelta(minutes=1))
    runs(any_db, alpha, "PENDING", 5, created=NOW + timedelta(minutes=5))  # retry back-off
    settings = alert_settings(rules=["queue_depth"], queue_depth_threshold=2)
    (row,) = evaluate_alerts(any_db, settings, now=NOW).opened
    assert (row.value, row.message) == (3.0, "3 executions waiting (threshold 2)")


# --- no worker --------------------------------------------------------------------------


def redis_settings(**alerts: object) -> Settings:
    return Settings.model_validate(
        {"queue": {"redis_url": "redis://127.0.0.1:6379/0"}, "alerts": alerts}
    )


def test_no_worker_is_not_checked_with_the_local_queue_by_default(any_db: Database) -> None:
    assert evaluate_alerts(any_db, alert_settings(rules=["no_worker"]), now=NOW).opened == []


def test_no_worker_alive_with_a_redis_queue_opens_a_critical_incident(any_db: Database) -> None:
    write_beat(any_db, "host:1:a", kind="consumer", started_at=NOW, now=NOW - timedelta(minutes=5))
    report = evaluate_alerts(any_db, redis_settings(rules=["no_worker"]), now=NOW)
    assert opened(report) == [("no_worker", "workers", "critical")]
    assert report.opened[0].message == "no worker process alive; last seen 2024-05-01 12:25:20 UTC"


def test_a_worker_beating_again_resolves_the_no_worker_incident(any_db: Database) -> None:
    settings = redis_settings(rules=["no_worker"])
    evaluate_alerts(any_db, settings, now=NOW)
    write_beat(any_db, "host:1:a", kind="consumer", started_at=NOW, now=NOW + timedelta(seconds=1))
    report = evaluate_alerts(any_db, settings, now=NOW + timedelta(seconds=2))
    assert [row.rule for row in report.resolved] == ["no_worker"]


def test_no_worker_always_checks_the_local_queue_too(any_db: Database) -> None:
    settings = alert_settings(rules=["no_worker"], no_worker="always")
    assert opened(evaluate_alerts(any_db, settings, now=NOW)) == [
        ("no_worker", "workers", "critical")
    ]


# --- missed schedule --------------------------------------------------------------------

HOURLY = [{"type": "schedule", "cron": "0 * * * *"}]
SCHEDULES_ONLY = alert_settings(rules=["schedule_missed"])
LONG_AGO = NOW - timedelta(days=1)


def test_a_schedule_without_a_run_since_its_last_fire_time_opens(any_db: Database) -> None:
    hourly = workflow(any_db, "hourly", HOURLY, saved_at=LONG_AGO)
    runs(any_db, hourly, "SUCCESS", 1, trigger_type="schedule", created=NOW - timedelta(hours=1))
    (row,) = evaluate_alerts(any_db, SCHEDULES_ONLY, now=NOW).opened
    assert (row.rule, row.subject, row.severity) == ("schedule_missed", "hourly", "medium")
    assert row.message == "scheduled run due 2024-05-01 12:00 UTC has not started (30 min late)"


def test_a_scheduled_run_since_the_fire_time_is_not_missed(any_db: Database) -> None:
    hourly = workflow(any_db, "hourly", HOURLY, saved_at=LONG_AGO)
    at_noon = datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)
    runs(any_db, hourly, "SUCCESS", 1, trigger_type="schedule", created=at_noon)
    assert evaluate_alerts(any_db, SCHEDULES_ONLY, now=NOW).opened == []


def test_a_fire_time_within_the_grace_is_not_missed_yet(any_db: Database) -> None:
    hourly = workflow(any_db, "hourly", HOURLY, saved_at=LONG_AGO)
    runs(any_db, hourly, "SUCCESS", 1, trigger_type="schedule",
         created=datetime(2024, 5, 1, 11, 0, 1, tzinfo=UTC))  # fmt: skip
    at = datetime(2024, 5, 1, 12, 14, tzinfo=UTC)  # 12:00 is due, but only 14 min ago
    assert evaluate_alerts(any_db, SCHEDULES_ONLY, now=at).opened == []


def test_a_manual_run_does_not_stand_in_for_a_scheduled_one(any_db: Database) -> None:
    hourly = workflow(any_db, "hourly", HOURLY, saved_at=LONG_AGO)
    runs(any_db, hourly, "SUCCESS", 1, created=NOW - timedelta(minutes=20))
    assert len(evaluate_alerts(any_db, SCHEDULES_ONLY, now=NOW).opened) == 1


@pytest.mark.parametrize(
    ("enabled", "saved_at"),
    [pytest.param(False, LONG_AGO, id="disabled"), pytest.param(True, NOW, id="saved-since")],
)
def test_disabled_or_recently_saved_workflows_are_not_expected_to_have_run(
    any_db: Database, enabled: bool, saved_at: datetime
) -> None:
    workflow(any_db, "hourly", HOURLY, enabled=enabled, saved_at=saved_at)
    assert evaluate_alerts(any_db, SCHEDULES_ONLY, now=NOW).opened == []


def test_previous_fire_time_follows_the_tick_across_a_spring_forward_gap() -> None:
    # 02:30 does not exist in Berlin on 2024-03-31: the run is at 03:00 CEST (01:00 UTC).
    at = datetime(2024, 3, 31, 2, 0, tzinfo=UTC)
    assert previous_fire_time("30 2 * * *", "Europe/Berlin", at) == datetime(
        2024, 3, 31, 1, 0, tzinfo=UTC
    )
    assert previous_fire_time("0 * * * *", "UTC", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) == (
        datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    )


# --- configuration ----------------------------------------------------------------------


def test_an_incident_of_a_rule_no_longer_configured_is_resolved(any_db: Database) -> None:
    evaluate_alerts(any_db, alert_settings(rules=["no_worker"], no_worker="always"), now=NOW)
    report = evaluate_alerts(any_db, alert_settings(rules=["failure_rate"]), now=NOW)
    assert [row.rule for row in report.resolved] == ["no_worker"]


def test_disabled_alerts_evaluate_nothing(any_db: Database) -> None:
    settings = alert_settings(enabled=False, no_worker="always")
    assert evaluate_alerts(any_db, settings, now=NOW) == AlertReport([], [])
    assert open_rows(any_db) == []
