"""The commands of the ``wfconsole`` CLI, one module per group, and the command table.

``COMMAND_TABLE`` lists every group and command in the order ``--help`` shows them. The
modules import the engine inside their handlers, so building the parser stays cheap.
"""

from __future__ import annotations

from wfconsole.cli.command_table import Row
from wfconsole.cli.commands import (
    alerts,
    database,
    demo,
    destinations,
    executions,
    flow_control,
    health,
    maintenance,
    queue_tools,
    replay,
    run_diff,
    runs,
    schedules,
    secrets,
    serve,
    stats,
    tokens,
    users,
    views,
    worker,
    workflow,
)

COMMAND_TABLE: tuple[Row, ...] = (
    *demo.COMMANDS,
    *database.COMMANDS,
    *workflow.COMMANDS,
    *flow_control.COMMANDS,
    *runs.COMMANDS,
    *executions.COMMANDS,
    *run_diff.COMMANDS,
    *replay.COMMANDS,
    *schedules.COMMANDS,
    *destinations.COMMANDS,
    *views.COMMANDS,
    *worker.COMMANDS,
    *maintenance.COMMANDS,
    *queue_tools.COMMANDS,
    *serve.COMMANDS,
    *tokens.COMMANDS,
    *users.COMMANDS,
    *secrets.COMMANDS,
    *health.COMMANDS,
    *alerts.COMMANDS,
    *stats.COMMANDS,
)
