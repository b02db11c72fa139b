"""Screens of the specedit TUI, each with its own TCSS next to it."""
