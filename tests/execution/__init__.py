"""The executor, run in-process against a real database, a real SqliteHuey and a loopback
HTTP sink. Every test runs on SQLite and on PostgreSQL."""
