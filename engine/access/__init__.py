"""Who may do what: roles, the audit log of every change, API token rows."""
