"""``specedit merge ORIGINAL ANSWER``: merge a lazy answer into a file, on its own.

Lets a user (or a test) check what the tree-sitter merge makes of an answer without a model: the
merged file goes to stdout; notes (which original blocks a marker kept) and the proposal check's
findings go to stderr. A refused merge, or a merged file with findings, exits 3 (like ``specedit edit
--yes``). Nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.errors import ExitCode, UsageError
from common.terminal import escape_controls


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge",
        help="merge a lazy (changed-blocks-only) answer into a file; prints the result",
        description="Merge ANSWER, which shows only changed blocks and '... existing code ...' markers, "
        "into ORIGINAL and print the whole file, then run the proposal check on it (new syntax errors, "
        "large deletions the instruction does not ask for, undefined names, no change). Exit status 3 "
        "when the merge is refused or the check finds problems.",
    )
    p.add_argument("original", help="the original file")
    p.add_argument("answer", help="the lazy answer (changed blocks with '... existing code ...' markers)")
    p.add_argument("--language", default=None, help="language (default: from ORIGINAL's extension)")
    p.add_argument(
        "-m",
        "--message",
        default="",
        help="the instruction the answer was written for (a large deletion it asks for is no finding)",
    )


def run(args: argparse.Namespace) -> int:
    from app.files import read_editable
    from decoding.checks import check_proposal
    from decoding.lazy.merge import merge_lazy
    from decoding.prompts import language_for

    for name in (args.original, args.answer):
        if not Path(name).is_file():
            raise UsageError(f"not a file: {name}")
    original = read_editable(Path(args.original))
    answer = read_editable(Path(args.answer))
    merged = merge_lazy(original, answer, args.language or language_for(args.original))
    # the merged file, exact when redirected to a file; on a terminal its control characters are shown
    sys.stdout.write(escape_controls(merged.text) if sys.stdout.isatty() else merged.text)
    for note in merged.notes:  # what a review would show next to the result
        print(f"specedit merge: note: {escape_controls(note)}", file=sys.stderr)
    findings = check_proposal(original, merged.text, args.original, args.message)
    for finding in findings:
        print(f"specedit merge: check: {escape_controls(str(finding))}", file=sys.stderr)
    return ExitCode.PROPOSAL_REFUSED if findings else ExitCode.OK
