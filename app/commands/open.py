"""``specedit [open] PATH``: the Textual app."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.options import add_edit_options, add_model_options, add_theme_option
from app.run_options import options_from_args
from common.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open the TUI on a folder or file (the default command)")
    p.add_argument("path", nargs="?", default=".", help="folder or file to edit (default: .)")
    add_theme_option(p)
    add_edit_options(p)
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"no such file or folder: {path}")
    from app.tui import SpeceditApp

    SpeceditApp(path, options_from_args(args, path)).run()
    return 0
