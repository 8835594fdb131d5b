"""Outbound flow: which destination a step calls, its per-minute figures, holds, breaker."""
