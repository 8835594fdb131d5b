"""Helpers of the console's screens that are not screens: columns, texts, jobs, the gate."""
