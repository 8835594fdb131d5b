"""The terminal console: the app, its screens, their views and widgets."""
