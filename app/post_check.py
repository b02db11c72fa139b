"""The user's own check (``--check CMD`` or ``check = "..."`` in ``.specedit.toml``), run after an apply.

Like aider's lint/test commands: our proposal check catches what can be seen without running anything,
the user's linter or tests catch the rest. The command runs through the shell in the repository root,
so it is written as the user would type it there (``ruff check {file}``, ``pytest -q tests/``); the
edited file is available as ``{file}`` (shell-quoted, relative to the root) and as ``$SPECEDIT_FILE``
(absolute). The edit is already committed when it runs: a failure is shown with its output and
``specedit undo`` (or the TUI's undo key) reverts the edit, nothing is reverted behind the user's back.

One function for the CLI and the TUI; the TUI calls it from a worker thread (it blocks until the
command ends or :data:`DEFAULT_TIMEOUT_S` passes, then kills the command's whole process group).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from common.process import run_bounded

DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class CheckResult:
    """What the check command said; ``returncode`` is None when it timed out or could not start."""

    command: str  # as run, ``{file}`` substituted
    returncode: int | None
    output: str  # stdout and stderr interleaved, the end of a long log kept
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        """One line for a status bar or stderr."""
        if self.ok:
            return f"check passed: {self.command}"
        if self.timed_out:
            return f"check timed out: {self.command}"
        if self.returncode is None:
            return f"check could not run: {self.command}"
        return f"check failed (exit {self.returncode}): {self.command}"


def run_post_check(command: str, root: Path, file: Path, timeout: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Run ``command`` in ``root`` for the edited ``file``; never raises for the command's own failures."""
    shown = command.replace("{file}", shlex.quote(os.path.relpath(file, root)))
    env = {**os.environ, "SPECEDIT_FILE": str(Path(file).absolute())}
    run = run_bounded(shown, root, timeout, env=env, shell=True)
    return CheckResult(shown, run.returncode, run.output, run.timed_out)
