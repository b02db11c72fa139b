"""The in-process backend: prompt -> tokens -> multi-layer speculation on the loaded models."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

from decoding.context import ContextTooLong, answer_floor, context_window, fit_budget
from decoding.engine.config import SpecConfig
from decoding.engine.loop import edit_stream
from decoding.events import Error, Event
from decoding.models.load import LoadedModels
from decoding.prompts import render_prompt, stop_text
from decoding.request import EditRequest


class LocalBackend:
    """Runs the target (and draft) in this process; one instance serves many edits."""

    def __init__(self, models: LoadedModels, config: SpecConfig, max_new_tokens: int | None = None) -> None:
        self.models = models
        self.config = config
        self.max_new_tokens = max_new_tokens

    def budget(self, original_ids: list[int]) -> int:
        """Room for a rewrite of the file with generous growth, unless the user fixed a budget."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return 2 * len(original_ids) + 256

    def describe(self) -> str:
        return f"{self.models.describe()} · {self.config.method}"

    def encode(self, request: EditRequest) -> tuple[list[int], list[int]]:
        """Prompt ids and the original file's ids (the n-gram source for prompt lookup)."""
        tok = self.models.tokenizer
        prompt_ids = tok(render_prompt(tok, request), add_special_tokens=False)["input_ids"]
        original_ids = tok(request.original, add_special_tokens=False)["input_ids"]
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

    def generate(
        self,
        prompt_ids: list[int],
        original_ids: list[int],
        config: SpecConfig,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """The engine on these models with explicit settings (bench sweeps methods and configs)."""
        m = self.models
        yield from edit_stream(m.target, m.draft, m.tokenizer, prompt_ids, original_ids, config, cancel)
