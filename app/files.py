"""Which files the TUI lets a model edit, and reading them safely.

A model rewrites the whole file token by token, so binaries and very large files are refused up front
with a reason rather than producing garbage or a multi-hour generation.
"""

from __future__ import annotations

from pathlib import Path

from common.errors import Refused

MAX_BYTES = 1_000_000
_SNIFF_BYTES = 8192


class FileRefused(Refused):
    """The file cannot be edited; ``str(exc)`` is the user-facing reason."""


def looks_binary(path: Path) -> bool:
    """Git's heuristic: a NUL byte in the first 8 KiB."""
    try:
        with path.open("rb") as handle:
            return b"\0" in handle.read(_SNIFF_BYTES)
    except OSError:
        return False


def read_editable(path: Path) -> str:
    """The file's text, exactly as on disk (newlines untouched), or FileRefused with the reason."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileRefused(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if size > MAX_BYTES:
        raise FileRefused(
            f"{path.name} is {size / 1e6:.1f} MB; files over {MAX_BYTES / 1e6:.0f} MB are refused"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileRefused(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if b"\0" in data[:_SNIFF_BYTES]:
        raise FileRefused(f"{path.name} looks like a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
