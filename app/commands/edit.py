"""``specedit edit FILE -m "..."``: the TUI's pipeline without the TUI (scripts, CI).

What may reach the file is decided here exactly as in the TUI: only a whole :class:`Proposal` (a
budget-cut or prose answer ends the run with exit 3), and with ``--yes`` only one the proposal check
found nothing wrong with, unless ``--force``. Model text is escaped before it reaches the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.options import add_edit_options, add_model_options
from app.run_options import options_from_args
from common.errors import BackendFailure, ExitCode, ProposalRefused, UsageError
from common.terminal import escape_controls

if TYPE_CHECKING:
    from app.progress import StderrProgress
    from decoding.checks import Finding
    from decoding.selection import Selection
    from decoding.session import Proposal

EPILOG = """\
exit status 3 (proposal refused): the answer was cut off by the token budget, held no code block, or
--yes found problems in the proposal check (new syntax errors, large unasked-for deletions, undefined
names, no change) without --force; also when --check fails after the apply (the edit stays committed:
`specedit undo` reverts it). A refused proposal writes nothing.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "edit",
        help="edit one file from the command line; prints the diff, applies and commits with --yes",
        description="Run one edit without the TUI: progress on stderr, the unified diff on stdout, the "
        "proposal check's findings on stderr. With --yes the whole proposal is written atomically and "
        "committed through git, then --check runs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="file to edit; FILE:START-END edits only those lines (1-based, inclusive)")
    p.add_argument(
        "--symbol",
        metavar="NAME",
        help="edit only the function or class NAME (Class.method for a method; found with tree-sitter)",
    )
    p.add_argument("-m", "--message", required=True, help="the instruction, e.g. 'add type hints'")
    p.add_argument(
        "--yes",
        action="store_true",
        help="apply and commit the proposal without asking; refused (exit 3) if the check finds problems",
    )
    p.add_argument(
        "--force", action="store_true", help="with --yes: apply even when the proposal check finds problems"
    )
    p.add_argument("--init", action="store_true", help="run `git init` if the file is not in a repository")
    add_edit_options(p)
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    from app.apply import apply_proposal, edit_meta
    from app.files import read_editable
    from app.progress import StderrProgress, format_stats
    from decoding.personal.cache import EditCache, default_cache_path
    from decoding.request import EditRequest
    from decoding.selection import propose_selection
    from decoding.session import propose_edit
    from vcs.hunks import unified_diff
    from vcs.repo import EditRepo

    file_arg, lines = _target(args.file)
    path = Path(os.path.abspath(file_arg))  # not resolved: a symlink must not choose the repository
    options = options_from_args(args, path)
    if not path.is_file():
        raise UsageError(f"not a file: {path}")
    original = read_editable(path)
    repo = EditRepo.open(path, init=args.init) if args.yes else None
    rel = path.name if repo is None else repo.check_editable(path)  # refuse before generating
    selection = _selection(original, rel, lines, args.symbol)  # a bad range or name: before loading

    progress = StderrProgress()
    try:
        from app.backends import make_backend

        backend = make_backend(options, progress)
    except BaseException:
        progress.finish()
        raise
    progress.finish(backend.describe())

    request = EditRequest(path=rel, original=original, instruction=args.message)
    cache = None if options.no_cache else EditCache(default_cache_path())
    if selection is None:
        events = propose_edit(backend, request, options.format, cache=cache)
    else:
        progress.line(f"editing {selection.describe()} of {rel}", force=True)
        events = propose_selection(backend, selection, rel, args.message, options.format)
    proposal = _proposal(events, progress)
    if proposal is None:
        return ExitCode.INTERRUPTED
    progress.finish(format_stats(proposal.stats) + (f" · {proposal.note}" if proposal.note else ""))

    sys.stdout.write(escape_controls(unified_diff(original, proposal.new_text, rel)))
    _report(proposal.findings)
    if repo is None:
        return ExitCode.OK
    if proposal.findings and not args.force:
        raise ProposalRefused(
            "not applied: the proposal check found problems (see above)",
            hint="review the diff; --force applies it anyway",
        )
    if proposal.new_text == original:
        print("specedit: nothing to apply", file=sys.stderr)
        return ExitCode.OK
    meta = edit_meta(backend, proposal.stats)
    sha = apply_proposal(repo, path, request, proposal, proposal.new_text, meta, cache)
    print(f"specedit: applied and committed {sha[:10]}", file=sys.stderr)
    return ExitCode.OK if options.check is None else _post_check(options.check, repo.root, path)


def _target(spec: str) -> tuple[str, tuple[int, int] | None]:
    """The file and line range of ``FILE:START-END``; an existing file's own name always wins."""
    from decoding.selection import parse_target

    return (spec, None) if os.path.exists(spec) else parse_target(spec)


def _selection(text: str, rel: str, lines: tuple[int, int] | None, symbol: str | None) -> Selection | None:
    """The region to edit, None for the whole file."""
    from decoding.selection import Selection, symbol_selection

    if lines is not None and symbol is not None:
        raise UsageError("give a line range (FILE:START-END) or --symbol, not both")
    if symbol is not None:
        return symbol_selection(text, rel, symbol)
    return None if lines is None else Selection(text, *lines)


def _proposal(events: Iterable[object], progress: StderrProgress) -> Proposal | None:
    """The run's Proposal (None when cancelled); a cut-off or refused answer raises ProposalRefused."""
    from app.progress import format_prefill, format_stats
    from decoding.events import Done, Error, Prefill, Stats
    from decoding.session import CutOff, Proposal

    for event in events:
        if isinstance(event, Prefill):  # a long file: minutes of reading on a CPU before the first token
            progress.line(format_prefill(event))
        elif isinstance(event, Stats):
            progress.line(format_stats(event))
        elif isinstance(event, Done) and event.cancelled:
            progress.finish("cancelled")
            return None
        elif isinstance(event, Error):
            progress.finish()
            raise event.as_exception()
        elif isinstance(event, CutOff):
            progress.finish()
            raise ProposalRefused(
                event.message,
                hint="raise --max-new-tokens, or leave it out (the default grows with the file)",
            )
        elif isinstance(event, Proposal):
            return event
    raise BackendFailure("the model ended without a proposal")


def _report(findings: Sequence[Finding]) -> None:
    if not findings:
        return
    print(f"specedit: the proposal check found {len(findings)} problem(s):", file=sys.stderr)
    for finding in findings:
        print(f"  {escape_controls(str(finding))}", file=sys.stderr)


def _post_check(command: str, root: Path, path: Path) -> int:
    """Run the user's check on the applied edit; its failure is the run's failure (exit 3)."""
    from app.post_check import run_post_check

    print(f"specedit: running the check: {command}", file=sys.stderr)
    result = run_post_check(command, root, path)
    if result.output:
        sys.stderr.write(escape_controls(result.output.rstrip("\n")) + "\n")
    print(f"specedit: {result.summary()}", file=sys.stderr)
    if result.ok:
        return ExitCode.OK
    print("specedit: the edit stays committed; `specedit undo` reverts it", file=sys.stderr)
    return ExitCode.PROPOSAL_REFUSED
