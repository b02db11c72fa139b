"""``specedit [open] PATH``: the Textual app."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.options import add_model_options
from common.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open the TUI on a folder or file (the default command)")
    p.add_argument("path", nargs="?", default=".", help="folder or file to edit (default: .)")
    p.add_argument("--theme", default=None, help="UI theme (specedit-dark, specedit-light); remembered")
    p.add_argument(
        "--format",
        default="whole",
        choices=["auto", "whole", "lazy"],
        help="answer format: whole file (default; prompt lookup makes the copy cheap), lazy (changed "
        "blocks merged by tree-sitter) or auto (lazy, whole-file fallback when the merge refuses); "
        "lazy pays off only with models that follow the lazy format (see docs/benchmarks.md)",
    )
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"no such file or folder: {path}")
    from app.tui import SpeceditApp

    SpeceditApp(path=path, args=args).run()
    return 0
