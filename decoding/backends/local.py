"""The in-process backend: prompt -> tokens -> multi-layer speculation on the loaded models."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

from decoding.context import ContextTooLong, answer_floor, context_window, fit_budget
from decoding.engine.config import SpecConfig
from decoding.engine.lm import LM, as_lm
from decoding.engine.loop import edit_stream
from decoding.events import Error, Event
from decoding.models.identity import model_identity
from decoding.models.load import LoadedModels
from decoding.prompts import render_prompt, stop_text
from decoding.request import EditRequest


class LocalBackend:
    """Runs the target (and draft) in this process; one instance serves many edits.

    It keeps each model's KV cache between edits, so a follow-up instruction on the same file (or a
    regenerate) prefills only what its prompt does not share with the previous one.
    """

    def __init__(self, models: LoadedModels, config: SpecConfig, max_new_tokens: int | None = None) -> None:
        self.models = models
        self.config = config
        self.max_new_tokens = max_new_tokens
        # Taken now: the weights in memory are those on disk at load time, whatever happens to the files.
        self._identity = f"{model_identity(models)} · budget {max_new_tokens or 'auto'}"
        self._lms: dict[int, LM] = {}

    def budget(self, original_ids: list[int]) -> int:
        """Room for a rewrite of the file with generous growth, unless the user fixed a budget."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return 2 * len(original_ids) + 256

    def describe(self) -> str:
        return f"{self.models.describe()} · {self.config.method}"

    def method_and_engine(self) -> tuple[str, str]:
        return self.config.method, self.models.engine

    def identity(self) -> str:
        return self._identity

    def encode(self, request: EditRequest) -> tuple[list[int], list[int]]:
        """Prompt ids and the file's ids as they sit in the prompt (prompt lookup's n-gram source).

        Tokenizing the file on its own would give different tokens where BPE merges across the
        fence or the first line's start, and lookup would then miss the very first copy.
        """
        tok = self.models.tokenizer
        text = render_prompt(tok, request)
        encoded = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        prompt_ids: list[int] = encoded["input_ids"]
        start = text.rfind(request.original) if request.original else -1
        if start < 0:
            return prompt_ids, tok(request.original, add_special_tokens=False)["input_ids"]
        end = start + len(request.original)
        original_ids = [
            token
            for token, (lo, hi) in zip(prompt_ids, encoded["offset_mapping"], strict=True)
            if lo < end and hi > start
        ]
        return prompt_ids, original_ids

    def config_for(self, request: EditRequest, original_ids: list[int], **overrides: object) -> SpecConfig:
        """This request's settings: its token budget and the closing fence that ends the answer."""
        return replace(
            self.config, max_new_tokens=self.budget(original_ids), stop_text=stop_text(request), **overrides
        )

    def stream(self, request: EditRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        # a continued answer keeps its own tokens: re-tokenized text could split differently
        start = replace(request, prefix="", prefix_ids=()) if request.prefix_ids else request
        prompt_ids, original_ids = self.encode(start)
        prompt_ids = prompt_ids + list(request.prefix_ids)
        config = self.config_for(request, original_ids)
        floor = answer_floor(len(original_ids), request.format == "whole") - len(request.prefix_ids)
        windows = [context_window(m) for m in (self.models.target, self.models.draft) if m is not None]
        window = min((w for w in windows if w is not None), default=None)
        try:
            budget = fit_budget(len(prompt_ids), config.max_new_tokens, floor, window, f"`{request.path}`")
        except ContextTooLong as exc:
            yield Error(f"{exc.message}\nWhat to do: {exc.hint}", kind="context")
            return
        yield from self.generate(prompt_ids, original_ids, replace(config, max_new_tokens=budget), cancel)

    def lm(self, model: object) -> LM:
        """The engine LM of a loaded model, kept per model object (a tuned draft swapped in gets its own)."""
        key = id(model)
        if key not in self._lms:
            self._lms = {
                k: v for k, v in self._lms.items() if k in (id(self.models.target), id(self.models.draft))
            }
            self._lms[key] = as_lm(model)
        return self._lms[key]

    def generate(
        self,
        prompt_ids: list[int],
        original_ids: list[int],
        config: SpecConfig,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """The engine on these models with explicit settings (bench sweeps methods and configs)."""
        m = self.models
        draft = self.lm(m.draft) if m.draft is not None else None
        yield from edit_stream(
            self.lm(m.target), draft, m.tokenizer, prompt_ids, original_ids, config, cancel
        )
