"""``specedit merge ORIGINAL ANSWER``: merge a lazy answer into a file, on its own.

Lets a user (or a test) check what the tree-sitter merge makes of an answer without a model: the
merged file goes to stdout, a refusal's reason to stderr with exit status 2. Nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge",
        help="merge a lazy (changed-blocks-only) answer into a file; prints the result",
        description="Merge ANSWER, which shows only changed blocks and '... existing code ...' markers, "
        "into ORIGINAL and print the whole file. Exit status 2 with the reason when the merge is refused.",
    )
    p.add_argument("original", help="the original file")
    p.add_argument("answer", help="the lazy answer (changed blocks with '... existing code ...' markers)")
    p.add_argument("--language", default=None, help="language (default: from ORIGINAL's extension)")


def run(args: argparse.Namespace) -> int:
    from app.files import FileRefused, read_editable
    from decoding.lazy.merge import MergeRefused, merge_lazy
    from decoding.prompts import language_for

    try:
        original = read_editable(Path(args.original))
        answer = read_editable(Path(args.answer))
    except FileRefused as exc:
        print(f"specedit merge: {exc}", file=sys.stderr)
        return 2
    language = args.language or language_for(args.original)
    try:
        merged = merge_lazy(original, answer, language)
    except MergeRefused as refused:
        print(f"specedit merge: refused: {refused.reason}", file=sys.stderr)
        return 2
    sys.stdout.write(merged)
    return 0
