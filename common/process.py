"""Running a command we do not control (the user's check, a dataset's tests) with a bounded wait.

The command gets its own session, so on a timeout its whole process group is killed: a test suite that
started a server or a ``sleep`` in a child does not outlive the limit. Output is stdout and stderr
interleaved, decoded leniently and trimmed to its end (where failures are reported).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT_CHARS = 20_000


@dataclass(frozen=True)
class BoundedRun:
    """``returncode`` is None when the command timed out or could not start (``output`` says which)."""

    returncode: int | None
    output: str
    timed_out: bool = False


def run_bounded(
    command: str | Sequence[str],
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    shell: bool = False,
) -> BoundedRun:
    """Run ``command`` in ``cwd`` with no stdin; kill its process group after ``timeout`` seconds."""
    try:
        process = subprocess.Popen(
            command,
            shell=shell,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return BoundedRun(None, f"could not start: {exc}")
    try:
        raw, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
            os.killpg(process.pid, signal.SIGKILL)
        raw, _ = process.communicate()
        return BoundedRun(None, _tail(raw) + f"\n(killed after {timeout:g} s)", timed_out=True)
    return BoundedRun(process.returncode, _tail(raw))


def _tail(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= MAX_OUTPUT_CHARS else "…" + text[-MAX_OUTPUT_CHARS:]
