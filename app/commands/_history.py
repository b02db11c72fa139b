"""What ``specedit undo`` and ``specedit redo`` share: open the repository, take one step, report it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal


def register_step(sub: argparse._SubParsersAction, action: Literal["undo", "redo"], help_text: str) -> None:
    p = sub.add_parser(action, help=help_text, description=help_text)
    p.add_argument("path", nargs="?", default=".", help="a file or folder inside the repository (default: .)")


def run_step(args: argparse.Namespace, action: Literal["undo", "redo"]) -> int:
    """A refused step raises VcsError: the CLI prints git's or specedit's reason and exits 4."""
    from vcs.repo import EditRepo  # GitPython is imported only when a command needs it

    with EditRepo.open(Path(args.path)) as repo:
        step = repo.undo() if action == "undo" else repo.redo()
    files = ", ".join(str(path) for path in step.files)
    print(f"{action} {step.sha[:7]} {step.instruction!r}: {files} restored; HEAD is {step.head[:7]}")
    return 0
