"""Demo data for ``wfconsole demo``: sample workflows and a history of executions."""
