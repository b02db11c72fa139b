"""The file picker: a DirectoryTree showing only what a user would want a model to edit.

Hidden: the ``.git`` folder, anything git ignores (asked of ``git check-ignore`` itself, so nested
``.gitignore`` files, ``info/exclude`` and global excludes all count) and binary files. Filtering runs
in the tree's own loader thread, so the subprocess never touches the event loop.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from textual.widgets import DirectoryTree

from app.files import looks_binary

_ALWAYS_HIDDEN = {".git", ".hg", ".svn", "__pycache__"}


def git_ignored(folder: Path, paths: list[Path]) -> set[Path]:
    """The subset of ``paths`` that git ignores; empty outside a repository or without git."""
    if not paths:
        return set()
    try:
        result = subprocess.run(
            ["git", "check-ignore", "--stdin", "-z"],
            cwd=folder,
            input=b"\0".join(str(p).encode() for p in paths),
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return set()
    if result.returncode not in (0, 1):  # 128: not a repository
        return set()
    return {Path(raw.decode()) for raw in result.stdout.split(b"\0") if raw}


def visible_paths(folder: Path, paths: Iterable[Path]) -> list[Path]:
    candidates = [p for p in paths if p.name not in _ALWAYS_HIDDEN]
    ignored = git_ignored(folder, candidates)
    return [p for p in candidates if p not in ignored and (p.is_dir() or not looks_binary(p))]


class FilePicker(DirectoryTree):
    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        paths = list(paths)
        return visible_paths(paths[0].parent, paths) if paths else []
