"""Check a prompt and its generation budget against the model's context window before generating.

Without the check a file longer than the window runs for minutes and then fails (or, worse, the model
silently loses the start of the file); with it the user learns at once how many tokens the request
needs, how many the model has, and what to do instead. A whole-file answer needs at least as many
tokens as the file, so that minimum must fit; the budget beyond it is only clipped to the window.
"""

from __future__ import annotations

from common.errors import BackendFailure

ANSWER_MARGIN = 64
"""Tokens a whole-file answer needs beyond the file itself (closing fence, an added line or two)."""


class ContextTooLong(BackendFailure):
    """The prompt plus the smallest useful answer does not fit the model's context window (exit 5)."""


def context_window(model: object) -> int | None:
    """Tokens the model can attend to: a llama.cpp context's size, else the checkpoint's config
    (``max_position_embeddings``); None when neither says (then nothing is checked)."""
    window = getattr(model, "context", None)
    if isinstance(window, int) and window > 0:
        return window
    config = getattr(model, "config", None)
    window = getattr(config, "max_position_embeddings", None)
    return window if isinstance(window, int) and window > 0 else None


def fit_budget(prompt_tokens: int, budget: int, needed: int, window: int | None, what: str) -> int:
    """The generation budget clipped to what the window leaves after the prompt.

    Args:
        prompt_tokens: tokens of the rendered prompt (system, instruction, file, opening fence).
        budget: the tokens the caller would allow the answer.
        needed: the fewest answer tokens that can hold a useful answer (a whole file: the file's
            tokens plus :data:`ANSWER_MARGIN`), capped by ``budget``.
        window: the model's context window in tokens; None skips the check.
        what: names the request in the message, e.g. ``"big.py (25,013 tokens)"``.

    Raises:
        ContextTooLong: the prompt plus ``needed`` tokens exceeds ``window``.
    """
    if window is None:
        return budget
    needed = min(needed, budget)
    if prompt_tokens + needed <= window:
        return min(budget, window - prompt_tokens)
    raise ContextTooLong(
        f"{what} does not fit the model's context: the prompt is {prompt_tokens:,} tokens and the answer "
        f"needs at least {needed:,} more ({prompt_tokens + needed:,} in all), but the model's context "
        f"window is {window:,} tokens.",
        hint="edit a part of the file: a line range (`specedit edit FILE:START-END`), a function or class "
        "(`--symbol NAME`, or select it in the TUI); or ask for the lazy format (`--format lazy`: only "
        "the changed blocks come back); or use a model with a longer context (qwen-coder-1.5b: 32,768 "
        "tokens).",
    )


def answer_floor(original_tokens: int, whole_file: bool) -> int:
    """The fewest answer tokens worth generating: a whole file's length; a lazy answer may be short."""
    return original_tokens + ANSWER_MARGIN if whole_file else ANSWER_MARGIN
