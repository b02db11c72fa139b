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

import contextlib
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT_S = 300.0
MAX_OUTPUT_CHARS = 20_000  # the end of a long log is where the failure is


@dataclass(frozen=True)
class CheckResult:
    """What the check command said; ``returncode`` is None when it timed out or could not start."""

    command: str  # as run, ``{file}`` substituted
    returncode: int | None
    output: str  # stdout and stderr interleaved, at most MAX_OUTPUT_CHARS (the end kept)
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
    relative = os.path.relpath(file, root)
    shown = command.replace("{file}", shlex.quote(relative))
    env = {**os.environ, "SPECEDIT_FILE": str(Path(file).absolute())}
    try:
        process = subprocess.Popen(
            shown,
            shell=True,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills the tests it started too
        )
    except OSError as exc:
        return CheckResult(shown, None, f"could not start the check: {exc}")
    try:
        raw, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raw, _ = process.communicate()
        return CheckResult(shown, None, _tail(raw) + f"\n(killed after {timeout:g} s)", timed_out=True)
    return CheckResult(shown, process.returncode, _tail(raw))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(process.pid, signal.SIGKILL)


def _tail(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= MAX_OUTPUT_CHARS else "…" + text[-MAX_OUTPUT_CHARS:]
