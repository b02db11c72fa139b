"""``specedit undo [PATH]``: undo the last specedit edit (refused with the reason when unsafe)."""

from __future__ import annotations

import argparse

from app.commands._history import register_step, run_step


def register(sub: argparse._SubParsersAction) -> None:
    register_step(
        sub,
        "undo",
        "undo the last specedit edit of the current branch (refused, with the reason, when that is unsafe)",
    )


def run(args: argparse.Namespace) -> int:
    return run_step(args, "undo")
