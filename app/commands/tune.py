"""``specedit tune``: LoRA fine-tuning of the draft on the accepted-edit log (implementation in progress)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="fine-tune the draft model on your accepted edits (LoRA)")
    p.add_argument("--clear-log", action="store_true", help="delete the accepted-edit log and exit")


def run(args: argparse.Namespace) -> int:
    print("specedit tune: not implemented yet")
    return 1
