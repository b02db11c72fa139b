"""``specedit edit FILE -m "..."``: the TUI's pipeline without the TUI (scripts, CI)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.options import add_edit_options, add_model_options
from app.run_options import options_from_args
from common.errors import BackendFailure, ExitCode, UsageError

if TYPE_CHECKING:
    from decoding.selection import Selection


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "edit",
        help="edit one file from the command line; prints the diff, applies and commits with --yes",
        description="Run one edit without the TUI: progress on stderr, the unified diff on stdout. "
        "With --yes the whole proposal is written atomically and committed through git.",
    )
    p.add_argument("file", help="file to edit; FILE:START-END edits only those lines (1-based, inclusive)")
    p.add_argument(
        "--symbol",
        metavar="NAME",
        help="edit only the function or class NAME (Class.method for a method; found with tree-sitter)",
    )
    p.add_argument("-m", "--message", required=True, help="the instruction, e.g. 'add type hints'")
    p.add_argument("--yes", action="store_true", help="apply and commit the proposal without asking")
    p.add_argument("--init", action="store_true", help="run `git init` if the file is not in a repository")
    add_edit_options(p)
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    from app.apply import apply_proposal
    from app.files import read_editable
    from app.progress import StderrProgress, format_stats
    from decoding.events import Done, Error, Stats
    from decoding.personal.cache import EditCache, default_cache_path
    from decoding.request import EditRequest
    from decoding.selection import propose_selection
    from decoding.session import Proposal, propose_edit
    from vcs.hunks import unified_diff
    from vcs.repo import EditMeta, EditRepo

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
    proposal: Proposal | None = None
    cache = None if options.no_cache else EditCache(default_cache_path())
    if selection is None:
        events = propose_edit(backend, request, options.format, cache=cache)
    else:
        progress.line(f"editing {selection.describe()} of {rel}", force=True)
        events = propose_selection(backend, selection, rel, args.message, options.format)
    for event in events:
        if isinstance(event, Stats):
            progress.line(format_stats(event))
        elif isinstance(event, Done) and event.cancelled:
            progress.finish("cancelled")
            return ExitCode.INTERRUPTED
        elif isinstance(event, Error):
            progress.finish()
            raise event.as_exception()
        elif isinstance(event, Proposal):
            proposal = event
    if proposal is None:
        raise BackendFailure("the model ended without a proposal")
    progress.finish(format_stats(proposal.stats) + (f" · {proposal.note}" if proposal.note else ""))

    diff = unified_diff(original, proposal.new_text, rel)
    if not diff:
        print("specedit: the model proposed no change", file=sys.stderr)
        return 0
    sys.stdout.write(diff)
    if repo is None:
        return 0
    meta = EditMeta(
        model=backend.describe(),
        method=options.method,
        new_tokens=proposal.stats.new_tokens,
        chars_per_s=proposal.stats.chars_per_s,
        tokens_per_s=proposal.stats.tokens_per_s,
        speedup=None,
    )
    sha = apply_proposal(repo, path, request, proposal, proposal.new_text, meta, cache)
    print(f"specedit: applied and committed {sha[:10]}", file=sys.stderr)
    return 0


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
