"""The write-ahead note of a specedit transaction in progress, kept in ``.git/specedit/journal.json``.

An apply (write the file, commit it) or an undo/redo (move the branch, restore files) is several steps,
and a kill -9 between two of them used to leave disk, index and HEAD disagreeing. Before the first step
the transaction writes what it is about to do and what it needs to go back (the file's old text, the
commits it moves between); the last step deletes the note. A note found by a later run that holds the
repository lock therefore belongs to a run that died, and tells that run how to roll back or finish.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from common.atomic import atomic_write_text

JOURNAL_NAME = "journal.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingApply:
    """An edit being written and committed: ``old`` is the file's text before (None: no file)."""

    rel: str
    head: str | None  # HEAD before specedit committed anything for this edit
    old: str | None


@dataclass(frozen=True)
class PendingMove:
    """An undo or redo moving ``branch`` from ``source`` to ``target`` and restoring ``rels``.

    ``ref`` is the redo-stack entry that the step creates (undo) or deletes (redo) last.
    """

    action: Literal["undo", "redo"]
    branch: str
    source: str
    target: str
    edit: str
    rels: tuple[str, ...]
    ref: str


Pending = PendingApply | PendingMove


def write_journal(folder: Path, pending: Pending) -> None:
    kind = "apply" if isinstance(pending, PendingApply) else "move"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / JOURNAL_NAME, json.dumps({"kind": kind, **asdict(pending)}))


def read_journal(folder: Path) -> Pending | None:
    """The interrupted transaction, or None; an unreadable note is dropped with a warning (it is written
    atomically, so damage means someone else wrote it, and guessing from it could do harm)."""
    path = folder / JOURNAL_NAME
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the unreadable specedit journal %s: %s", path, exc)
        clear_journal(folder)
        return None
    try:
        kind = data.pop("kind")
        if kind == "apply":
            return PendingApply(**data)
        if kind == "move" and data.get("action") in ("undo", "redo"):
            return PendingMove(**{**data, "rels": tuple(data["rels"])})
    except (AttributeError, KeyError, TypeError):
        pass
    log.warning("ignoring the specedit journal %s: it is not one specedit wrote", path)
    clear_journal(folder)
    return None


def clear_journal(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (folder / JOURNAL_NAME).unlink()
