"""Chaos tests (marker ``chaos``): real processes and servers, faults injected on loopback."""
