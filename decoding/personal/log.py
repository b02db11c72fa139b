"""Local log of accepted edits: the training data for ``specedit tune``.

One JSON object per line. Inside a git repository the log lives in ``.git/specedit/edits.jsonl``:
next to the project it came from, yet never committed or pushed; elsewhere it goes to the model
cache. The file is capped in bytes and the oldest records are dropped first, since recent edits
say most about how this user works now.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.atomic import atomic_write_text
from common.paths import edits_dir
from decoding.events import Stats
from decoding.request import EditRequest

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
LOG_NAME = "edits.jsonl"


@dataclass(frozen=True)
class EditRecord:
    """One accepted edit.

    ``raw`` is the model's answer exactly as generated (what the draft must learn to predict);
    ``accepted`` is the file text the user applied, which may keep only some of the hunks.
    """

    request: EditRequest
    raw: str
    accepted: str
    method: str = ""
    model: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    time: float = 0.0

    @classmethod
    def create(
        cls,
        request: EditRequest,
        raw: str,
        accepted: str,
        method: str,
        model: str,
        stats: Stats | None = None,
    ) -> EditRecord:
        # As the log will read them back (tuples become lists), so a record equals its own round trip.
        figures = json.loads(json.dumps(asdict(stats))) if stats else {}
        return cls(request, raw, accepted, method, model, figures, time.time())

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EditRecord:
        req = data["request"]
        request = EditRequest(
            path=str(req["path"]),
            original=str(req["original"]),
            instruction=str(req["instruction"]),
            format=req.get("format", "whole"),
        )
        return cls(
            request=request,
            raw=str(data["raw"]),
            accepted=str(data["accepted"]),
            method=str(data.get("method", "")),
            model=str(data.get("model", "")),
            stats=dict(data.get("stats", {})),
            time=float(data.get("time", 0.0)),
        )


def find_git_dir(start: Path) -> Path | None:
    """The ``.git`` directory of the repository containing ``start`` (worktree ``.git`` files followed)."""
    here = start.resolve()
    if here.is_file() or not here.exists():
        here = here.parent
    for folder in (here, *here.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = dot_git.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                return (folder / text.removeprefix("gitdir:").strip()).resolve()
    return None


def default_log_path(start: Path | str = ".") -> Path:
    """``.git/specedit/edits.jsonl`` of the repository holding ``start``, else the cache's log."""
    git_dir = find_git_dir(Path(start))
    if git_dir is not None:
        return git_dir / "specedit" / LOG_NAME
    return edits_dir() / "log.jsonl"


class EditLog:
    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"edit log cap must be positive, got {max_bytes} bytes")
        self.path = path
        self.max_bytes = max_bytes

    def append(self, record: EditRecord) -> bool:
        """Add a record, dropping the oldest ones past the cap; False if the record alone exceeds it."""
        line = (record.to_json() + "\n").encode("utf-8")
        if len(line) > self.max_bytes:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            if f.tell() and not self._ends_with_newline():
                f.write(b"\n")  # a killed writer's torn last line must not swallow this record
            f.write(line)
        if self.path.stat().st_size > self.max_bytes:
            self._trim()
        return True

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, 2)
            return f.read(1) == b"\n"

    def _lines(self) -> list[bytes]:
        """The log's lines as bytes: a torn line (cut UTF-8, half a record) is the reader's to skip,
        never a reason to fail the edit that is being recorded."""
        return self.path.read_bytes().splitlines(keepends=True)

    def _trim(self) -> None:
        kept: list[str] = []
        size = 0
        for line in reversed(self._lines()):
            size += len(line)
            if size > self.max_bytes:
                break
            try:
                kept.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                continue  # torn: it could never be read back as a record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, "".join(reversed(kept)))

    def records(self) -> list[EditRecord]:
        """All readable records, oldest first; a torn or foreign line is skipped, not fatal."""
        if not self.path.exists():
            return []
        out: list[EditRecord] = []
        for line in self._lines():
            try:
                out.append(EditRecord.from_dict(json.loads(line.decode("utf-8"))))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def clear(self) -> bool:
        """Delete the log; True if there was one."""
        existed = self.path.exists()
        self.path.unlink(missing_ok=True)
        return existed
