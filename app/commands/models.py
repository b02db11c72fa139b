"""``specedit models``: list the builtin and cached models (full version in progress)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the builtin and cached models")
    p.add_argument("--fetch", action="store_true", help="fetch and convert the builtin model now")


def run(args: argparse.Namespace) -> int:
    print("specedit models: not implemented yet")
    return 1
