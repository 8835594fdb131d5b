"""Workflow definitions as data: the schema, conditions, templates, starter templates."""
