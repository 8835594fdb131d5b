"""Running executions: claims, attempts, steps, commit rounds, the executor."""
