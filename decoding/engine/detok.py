"""Incremental detokenization for streaming spans.

Decoding token by token is wrong for byte-level and SentencePiece vocabularies: one character may
span several tokens and a token's leading space depends on its left neighbour. So each push decodes
a small window (one already-emitted token of left context plus the new ones) and emits only the part
that is final: trailing U+FFFD (an unfinished multi-byte character) is held back until completed.
The emitted pieces concatenate exactly to the text of all pushed tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

_PARTIAL = "\ufffd"


class Decoder(Protocol):
    def decode(self, token_ids: list[int], **kwargs: object) -> str: ...


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Decoder) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # window start: left context for the first unread token
        self._read = 0  # tokens whose text is fully emitted
        self._sent = 0  # characters emitted beyond the window's prefix text while held back

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def push(self, token_ids: Sequence[int], final: bool = False) -> str:
        """Add tokens; return the newly final text (everything, held-back bytes included, if ``final``)."""
        self._ids.extend(token_ids)
        prefix_text = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        stable = text if final else text.rstrip(_PARTIAL)
        start = len(prefix_text) + self._sent
        piece = stable[start:]
        if len(stable) == len(text):
            self._prefix, self._read, self._sent = self._read, len(self._ids), 0
        else:
            self._sent += len(piece)
        return piece

    def flush(self) -> str:
        """Whatever is still held back (an unfinished character at the very end)."""
        return self.push((), final=True)

    def preview(self, token_ids: Sequence[int]) -> str:
        """Text of tokens that would follow the pushed ones, without pushing them (rejected drafts)."""
        if not token_ids:
            return ""
        emitted = len(self._decode(self._ids[self._prefix : self._read])) + self._sent
        return self._decode(self._ids[self._prefix :] + list(token_ids))[emitted:]
