"""Console screens, one per module; each screen's CSS sits beside it in a ``.tcss`` file."""
