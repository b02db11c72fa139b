"""LRU cache of accepted edits: the same instruction on the same file is answered without a model run.

Keyed by what determines the answer and nothing else: the file's content hash (not its path: a
renamed or copied file with the same text gets the same answer), the instruction with whitespace
normalised, and the backend's *identity* (:func:`output_identity`: the model's weights and precision,
the prompt format asked for and the token budget). Never by a display string such as
``backend.describe()``, which changes while a backend runs (a server refusing predicted outputs) and
would make lookups miss silently. Case is kept on purpose: "rename x to X" and "rename X to x" are
different edits. The cache lives in memory and is mirrored to one JSON file (written atomically) so it
survives restarts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from pathlib import Path

from common.atomic import atomic_write_text
from common.paths import edits_dir
from decoding.request import EditRequest

DEFAULT_CAPACITY = 256
_VERSION = 1

log = logging.getLogger(__name__)


def default_cache_path() -> Path:
    return edits_dir() / "cache.json"


def normalise_instruction(instruction: str) -> str:
    return " ".join(instruction.split())


def output_identity(backend: str, fmt: str) -> str:
    """Everything besides the request that decides the answer, as one string for :class:`EditCache`.

    Args:
        backend: ``EditBackend.identity()``: the model's weights and precision, and the token budget.
        fmt: the answer format asked for (``whole``, ``lazy`` or ``auto``): other prompts, other text.
    """
    return json.dumps([backend, fmt])


def cache_key(request: EditRequest, identity: str) -> str:
    """A stable text key; hashing the parts keeps the JSON small and the key free of separators."""
    digest = hashlib.sha256(request.original.encode("utf-8")).hexdigest()
    earlier = [normalise_instruction(text) for text in request.earlier]  # a conversation's earlier turns
    parts = [digest, normalise_instruction(request.instruction), earlier, identity]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


class EditCache:
    """Least-recently-used map from an edit request to the text the user accepted for it.

    ``path=None`` keeps the cache in memory only (tests, ``--no-cache`` style callers).
    """

    def __init__(self, path: Path | None = None, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"edit cache capacity must be at least 1, got {capacity}")
        self.path = path
        self.capacity = capacity
        self._entries: OrderedDict[str, str] = OrderedDict()
        if path is not None:
            self._entries = self._load(path)
            self._evict()

    @staticmethod
    def _load(path: Path) -> OrderedDict[str, str]:
        """A damaged or unreadable cache is not worth failing an edit over: warn, start empty, and
        overwrite it later. Entries of the wrong shape are dropped, never turned into text: a cached
        text is applied to a user's file as it is."""
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return OrderedDict()
        except (OSError, ValueError) as exc:
            log.warning("ignoring the edit cache %s: %s", path, getattr(exc, "strerror", None) or exc)
            return OrderedDict()
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(entries, list):
            log.warning("ignoring the edit cache %s: not a version %d cache", path, _VERSION)
            return OrderedDict()
        valid = [
            e for e in entries if isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e)
        ]
        if len(valid) != len(entries):
            log.warning("dropped %d damaged entries of the edit cache %s", len(entries) - len(valid), path)
        return OrderedDict((key, text) for key, text in valid)

    def _save(self) -> None:
        """Best effort: a cache that cannot be written costs later speed, not this edit."""
        if self.path is None:
            return
        data = {"version": _VERSION, "entries": list(self._entries.items())}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(data))
        except OSError as exc:
            log.warning("could not write the edit cache %s: %s", self.path, exc.strerror or exc)

    def _evict(self) -> None:
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, request: EditRequest, identity: str) -> str | None:
        """The accepted text for this request, or None; a hit becomes the most recently used entry."""
        key = cache_key(request, identity)
        result = self._entries.get(key)
        if result is not None:
            self._entries.move_to_end(key)
            self._save()
        return result

    def put(self, request: EditRequest, identity: str, accepted: str) -> None:
        key = cache_key(request, identity)
        self._entries[key] = accepted
        self._entries.move_to_end(key)
        self._evict()
        self._save()

    def clear(self) -> None:
        self._entries.clear()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
