"""Widgets and modal screens of the specedit TUI."""
