"""One specedit writer per repository at a time: a lock file under ``.git/specedit``.

Two ``specedit edit --yes`` runs on one repository used to interleave their changed-on-disk check, write
and commit, so one run committed the other's text (or died on git's ``index.lock``). Apply, undo and redo
therefore run inside this lock, which is held for the whole check-write-commit critical section.

The lock is an ``flock`` on ``.git/specedit/lock`` rather than a bare "exists means locked" file: the
kernel drops it the moment its holder dies (kill -9 included), so a stale lock is never mistaken for a
live one and needs no clean-up, and a recycled pid cannot keep it alive. The holder writes its pid into
the file only so that a waiting run can say whom it waits for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_NAME = "lock"
_POLL_S = 0.05


class LockTimeout(Exception):
    """The lock stayed held by another live process for longer than the caller would wait."""


class LockUnavailable(Exception):
    """The lock file cannot be created (a read-only ``.git``, a full disk); ``str()`` says why."""


@contextlib.contextmanager
def repo_lock(
    folder: Path, on_wait: Callable[[str], None] | None = None, timeout: float | None = None
) -> Iterator[None]:
    """Hold the repository lock in ``folder`` (``.git/specedit``) for the ``with`` block.

    ``on_wait`` is told once, with the holder's pid, when the lock is busy, so a user sees why a run
    pauses; ``timeout`` (seconds, None = forever) bounds the wait.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LockUnavailable(f"cannot create {folder / LOCK_NAME}: {exc.strerror or exc}") from exc
    try:
        _acquire(fd, on_wait, timeout)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, on_wait: Callable[[str], None] | None, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = _holder(fd)
        if not told and on_wait is not None:
            on_wait(f"waiting for another specedit run{holder} to finish with this repository…")
            told = True
        if deadline is not None and time.monotonic() > deadline:
            raise LockTimeout(f"another specedit run{holder} is still working on this repository")
        time.sleep(_POLL_S)


def _holder(fd: int) -> str:
    """`` (pid N)`` of the process holding the lock, as far as its file says; "" if unknown."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""
