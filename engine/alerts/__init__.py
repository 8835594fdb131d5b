"""Operational alerts: rules over the execution history, the queue and the workers.

- ``rules``: what each rule measures (failure rate, queue depth, no worker, missed
  schedule) and whether it is breached now;
- ``incidents``: opening and resolving incidents in ``alert_event`` and the history;
- ``delivery``: notifying an incident by email, Slack and Teams through the actions;
- ``check``: one evaluation (``check_alerts``) and the workers' periodic ``alerts_tick``.

The package's ``__init__`` imports nothing, so Alembic can load the table model alone.
"""
