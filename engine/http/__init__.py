"""``wfconsole serve``: the HTTP face of the engine (webhook receiver, health)."""
