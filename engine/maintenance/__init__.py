"""Maintenance the engine does itself: retention cleanup (and, later, vacuum and backups)."""
