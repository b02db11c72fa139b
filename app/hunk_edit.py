"""Editing one hunk of a proposal in the user's $EDITOR before it is applied, as ``git add -p``'s ``e``.

The file shows the hunk's ``-`` and ``+`` lines. The user may change or delete ``+`` lines, add new
ones, or turn a ``-`` into a space to keep that line; ``#`` lines are ignored. What remains after the
``+`` and `` `` marks is what the hunk puts in place of its original lines; the original lines
themselves cannot change (the hunk must still apply to the file on disk). An emptied file aborts.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

from vcs.hunks import Hunk

_HELP = """\
# Edit the hunk, then save and quit; the result is what gets applied.
# Change or delete '+' lines, add '+' lines, or turn a '-' into ' ' to keep that line.
# Lines starting with '#' are ignored. Empty the file to leave the hunk as it was.
"""


class HunkEditError(ValueError):
    """The edited text is not a hunk of the same original lines; ``str(exc)`` says why."""


def editor_command() -> list[str]:
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def hunk_text(hunk: Hunk) -> str:
    lines = [f"# {hunk.header}\n", _HELP]
    lines += [f"-{_bare(line)}\n" for line in hunk.old_lines]
    lines += [f"+{_bare(line)}\n" for line in hunk.new_lines]
    return "".join(lines)


def parse_hunk_text(hunk: Hunk, text: str) -> Hunk | None:
    """The hunk with the edited new lines; None when the user emptied the file (keep the hunk)."""
    rows = [row for row in text.split("\n") if not row.startswith("#")]
    while rows and not rows[-1]:
        rows.pop()
    if not rows:
        return None
    ending = "\r\n" if any(line.endswith("\r\n") for line in hunk.old_lines + hunk.new_lines) else "\n"
    old: list[str] = []
    new: list[str] = []
    for number, row in enumerate(rows, start=1):
        mark, body = row[:1], row[1:]
        if mark in ("-", " "):
            old.append(body)
        if mark in ("+", " "):
            new.append(body)
        if mark not in ("-", "+", " "):
            raise HunkEditError(f"line {number} starts with {mark!r}: every line needs '-', '+' or ' '")
    if old != [_bare(line) for line in hunk.old_lines]:
        raise HunkEditError("the original ('-' and ' ') lines changed; only '+' lines may be edited")
    new_lines = [body + ending for body in new]
    at_end_without_newline = hunk.new_lines and not hunk.new_lines[-1].endswith("\n")
    if new_lines and at_end_without_newline:  # the file's last line had no newline: keep it that way
        new_lines[-1] = new_lines[-1][: -len(ending)]
    return replace(hunk, new_lines=tuple(new_lines))


def edit_in_editor(hunk: Hunk) -> Hunk | None:
    """Run the editor on the hunk (blocking: the caller suspends the TUI around it)."""
    with tempfile.TemporaryDirectory(prefix="specedit-hunk-") as folder:
        path = Path(folder) / "hunk.diff"
        path.write_text(hunk_text(hunk), encoding="utf-8")
        try:
            done = subprocess.run([*editor_command(), str(path)], check=False)
        except OSError as exc:
            raise HunkEditError(f"could not start the editor ({' '.join(editor_command())}): {exc}") from exc
        if done.returncode != 0:
            raise HunkEditError(f"the editor exited with status {done.returncode}; the hunk is unchanged")
        return parse_hunk_text(hunk, path.read_text(encoding="utf-8"))


def _bare(line: str) -> str:
    return line.rstrip("\r\n")
