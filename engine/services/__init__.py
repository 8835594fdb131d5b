"""What the console, CLI and API call: plain functions over a Database, returning dataclasses."""
