"""One specedit step (apply, undo, redo) in a child process that can stop at a named point.

The fault tests kill this process (kill -9, Ctrl-C, a whole process group) exactly while it waits at a
point of the transaction, then check what the next run finds. The pause is a test-side wrapper around
one step of ``EditRepo``; the production code has no hooks for it.

Usage: ``python -m tests.faults_child REPO OP [--file F --new TEXT --old TEXT] [--pause POINT --ready P]``
prints ``ok SHA`` or ``refused MESSAGE`` (exit 0 / 4).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.gitrepo import META
from vcs import repo as repo_module
from vcs.repo import EditRepo, VcsError

PAUSE_S = 60.0  # far longer than any test waits: the test kills the child first


def _pausing(original: Callable[..., Any], ready: Path, when: Callable[..., bool]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            ready.write_text(str(os.getpid()))
            time.sleep(PAUSE_S)
        return original(*args, **kwargs)

    return wrapper


def _always(*_: Any, **__: Any) -> bool:
    return True


def _edit_commit(_self: EditRepo, _rel: str, message: str, _trailers: object) -> bool:
    return "Specedit-Edit: 1" in message


def install_pause(point: str, ready: Path, root: Path) -> None:
    """Make the child stop at ``point`` after writing its pid to ``ready``."""
    if point == "before-write":
        repo_module.atomic_write_text = _pausing(repo_module.atomic_write_text, ready, _always)
    elif point == "temp-written":

        def user_file(src: object, dst: object) -> bool:
            return ".git" not in Path(str(dst)).parts  # not the journal's own atomic write

        os.replace = _pausing(os.replace, ready, user_file)
    elif point == "before-commit":
        EditRepo._commit = _pausing(EditRepo._commit, ready, _edit_commit)  # type: ignore[method-assign]
    elif point == "index-locked":

        def lock_then_pause(*args: Any, **kwargs: Any) -> bool:
            if _edit_commit(*args, **kwargs):
                (root / ".git" / "index.lock").write_text("")  # as git commit holds it
                return True
            return False

        EditRepo._commit = _pausing(EditRepo._commit, ready, lock_then_pause)  # type: ignore[method-assign]
    elif point == "committed":
        EditRepo._clear_redo = _pausing(EditRepo._clear_redo, ready, _always)  # type: ignore[method-assign]
    elif point == "restore":
        EditRepo._restore = _pausing(EditRepo._restore, ready, _always)  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown pause point {point!r}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("op", choices=["apply", "undo", "redo"])
    parser.add_argument("--file", type=Path)
    parser.add_argument("--new", default="")
    parser.add_argument("--old", default="")
    parser.add_argument("--pause")
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--start", type=Path, help="wait until this file exists (a start line for races)")
    args = parser.parse_args()
    if args.pause:
        install_pause(args.pause, args.ready, args.root)
    if args.start is not None:
        deadline = time.monotonic() + 20
        while not args.start.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    try:
        with EditRepo.open(args.root) as repo:
            if args.op == "apply":
                sha = repo.apply_edit(
                    args.file, args.new, args.old, instruction=f"set {args.new!r}", meta=META
                )
            else:
                sha = (repo.undo() if args.op == "undo" else repo.redo()).sha
    except VcsError as exc:
        print(f"refused {exc}")
        return 4
    print(f"ok {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
