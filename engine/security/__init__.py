"""Secrets, roles, tokens, outbound safety and private files."""
