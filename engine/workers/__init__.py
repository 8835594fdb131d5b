"""What a worker process does beside running executions: sweeper, heartbeat, housekeeping."""
