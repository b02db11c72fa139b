"""``specedit redo [PATH]``: re-apply the last undone specedit edit."""

from __future__ import annotations

import argparse

from app.commands._history import register_step, run_step


def register(sub: argparse._SubParsersAction) -> None:
    register_step(sub, "redo", "re-apply the last specedit edit undone on the current branch")


def run(args: argparse.Namespace) -> int:
    return run_step(args, "redo")
