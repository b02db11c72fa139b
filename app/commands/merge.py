"""``specedit merge ORIGINAL ANSWER``: merge a lazy answer into a file (work in progress)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge a lazy (changed-blocks-only) answer into a file")
    p.add_argument("original", help="the original file")
    p.add_argument("answer", help="the lazy answer (changed blocks with '... existing code ...' markers)")
    p.add_argument("--language", default=None, help="language (default: from ORIGINAL's extension)")


def run(args: argparse.Namespace) -> int:
    print("specedit merge: not implemented yet", file=sys.stderr)
    return 2
