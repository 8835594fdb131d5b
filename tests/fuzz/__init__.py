"""Fuzzing with hypothesis: hostile definitions, expressions, webhook requests and targets."""
