"""``specedit undo``: git-backed history of specedit edits (implementation in progress)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("undo", help="undo specedit edits")
    p.add_argument("path", nargs="?", default=".", help="file or folder inside the repository (default: .)")


def run(args: argparse.Namespace) -> int:
    print("specedit undo: not implemented yet")
    return 1
