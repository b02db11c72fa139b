"""Typed messages that thread workers post to the main screen.

``post_message`` is thread-safe and returns at once, unlike ``call_from_thread``, which blocks the
generation thread until the event loop has run the callback. Every generation message carries the id
of the generation it belongs to, so the screen drops whatever a cancelled generation still sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.content import Content
from textual.message import Message

from app.post_check import CheckResult
from decoding.events import Stats
from decoding.session import CutOff, Proposal
from vcs.repo import EditRepo


@dataclass
class Note(Message):
    """A line for the notes bar (model loading progress, for instance)."""

    text: str
    error: bool = False


@dataclass
class FileLoaded(Message):
    path: Path
    text: str
    note: str = ""  # what to say once it is shown (after an apply or undo), instead of "opened ..."


@dataclass
class RepoConnected(Message):
    """``repo`` is None when the folder is not in a repository (``why`` says so): git init is offered."""

    repo: EditRepo | None
    why: str = ""
    initialised: bool = False


@dataclass
class ModelReady(Message):
    label: str


@dataclass
class LiveFrame(Message):
    """A ready-made render of the generation so far (the worker does the diffing)."""

    generation: int
    content: Content
    stats: Stats | None


@dataclass
class ProposalReady(Message):
    generation: int
    proposal: Proposal


@dataclass
class CutOffReached(Message):
    """The token budget ended the answer before the file was complete: continue or discard."""

    generation: int
    cut: CutOff


@dataclass
class GenerationFailed(Message):
    """The backend ended with an Error event (out of memory, prompt too long, server down...)."""

    generation: int
    text: str


@dataclass
class Applied(Message):
    path: Path
    sha: str
    hunks: int


@dataclass
class CheckDone(Message):
    """The user's ``--check`` command ran after an apply."""

    result: CheckResult


@dataclass
class HistoryMoved(Message):
    """Undo or redo went through."""

    action: str
    instruction: str
    files: tuple[Path, ...]
