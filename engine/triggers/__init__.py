"""Triggers create executions: manual runs, events, webhooks' rows, the cron tick."""
