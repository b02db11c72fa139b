"""Writing a user's file without ever leaving it half-written, and only inside the folder they opened.

A crash, a full disk or Ctrl-C in the middle of a plain ``write_text`` leaves a truncated source file.
Writing a temporary file next to the target and ``os.replace``-ing it over the original is atomic on POSIX
and Windows (same filesystem), so readers see either the old or the new file. Texts are read and written
as exact UTF-8 bytes (no newline translation), so CRLF files stay CRLF and comparisons are byte-exact.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import stat
from pathlib import Path

from common.errors import Refused

TEMP_SUFFIX = ".specedit-tmp"


class UnsafePathError(Refused, ValueError):
    """A path that resolves outside the allowed root (directly, through ``..`` or through a symlink)."""


def contained_path(root: Path, path: Path) -> Path:
    """The real path of ``path`` (symlinks resolved) if it lies inside ``root``, else UnsafePathError.

    Resolving first is what makes the check meaningful: ``root/link.py -> /etc/passwd`` looks inside the
    root but writing through it would not be.
    """
    real_root = root.resolve()
    real = path.resolve()
    if real == real_root or real.is_relative_to(real_root):
        return real
    lexical = Path(os.path.abspath(path))
    if lexical.is_relative_to(real_root) or lexical.is_relative_to(Path(os.path.abspath(root))):
        raise UnsafePathError(
            f"{path} is a symlink (or inside one) that leads to {real}, outside {real_root}"
        )
    raise UnsafePathError(f"{path} is outside {real_root}")


def read_text(path: Path) -> str:
    """The file's exact text (UTF-8, line endings untouched); the form ``expected_old`` is compared in."""
    return path.read_bytes().decode("utf-8")


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` atomically, keeping its permission bits.

    The data is fsynced before the rename and the directory after it, so after a power cut the file holds
    either the old or the new text. A new file gets the usual ``0o666 & ~umask`` mode.
    """
    directory = path.parent
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
    # 0o666 is filtered by the process umask, as for any new file (mkstemp would force 0o600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temporary files a killed ``atomic_write_text`` of ``path`` left next to it; those removed.

    Only a writer that died leaves one (a live writer removes its own on any exception), so callers run
    this while holding the lock that writers of ``path`` hold.
    """
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; not possible (nor needed) on Windows, where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
