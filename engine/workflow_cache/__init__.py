"""The workflow cache: what triggers look up, never served stale."""
