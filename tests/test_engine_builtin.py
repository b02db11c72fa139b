"""End to end on the real builtin model: every method reproduces plain greedy on a real edit prompt."""

from __future__ import annotations

import math

import pytest

from decoding.engine.config import SpecConfig
from decoding.engine.loop import edit_stream
from decoding.events import Done, Span
from decoding.models.load import LoadedModels
from decoding.prompts import render_prompt
from decoding.request import EditRequest

pytestmark = pytest.mark.slow

ORIGINAL = '''import math


def area(width, height):
    """Area of a rectangle."""
    return width * height


def perimeter(width, height):
    """Perimeter of a rectangle."""
    return 2 * (width + height)


def circle_area(radius):
    """Area of a circle."""
    return math.pi * radius ** 2


def describe(width, height):
    return f"{width}x{height}: area {area(width, height)}"
'''
# SmolLM2-135M answers this by restating the comment over and over: an output made of repeats of
# itself and of the file, which is the copy-heavy case speculation is for.
INSTRUCTION = "Add a comment line '# Geometry helpers' at the top of the file."
REQUEST = EditRequest("shapes.py", ORIGINAL, INSTRUCTION)
BUDGET = 160


def generate(models: LoadedModels, method: str) -> Done:
    tok = models.tokenizer
    prompt_ids = tok(render_prompt(tok, REQUEST), add_special_tokens=False)["input_ids"]
    original_ids = tok(REQUEST.original, add_special_tokens=False)["input_ids"]
    config = SpecConfig(method=method, max_new_tokens=BUDGET)  # type: ignore[arg-type]
    events = list(edit_stream(models.target, models.draft, tok, prompt_ids, original_ids, config))
    done = events[-1]
    assert isinstance(done, Done), done
    accepted = "".join(e.text for e in events if isinstance(e, Span) and e.accepted)
    assert accepted == done.text
    return done


def test_every_method_matches_regular_and_multilayer_needs_fewest_forwards(
    builtin_models: LoadedModels,
) -> None:
    methods = ("regular", "lookup", "draft", "multilayer")
    runs = {method: generate(builtin_models, method) for method in methods}
    reference = runs["regular"].token_ids
    assert len(reference) > 50
    for method, done in runs.items():
        assert done.token_ids == reference, method
        assert done.text == runs["regular"].text
    forwards = {method: done.stats.target_forwards for method, done in runs.items()}
    tok = builtin_models.tokenizer
    prompt_length = len(tok(render_prompt(tok, REQUEST), add_special_tokens=False)["input_ids"])
    # the prompt but its last token is read in chunks; then one forward per generated token
    prefill_forwards = math.ceil((prompt_length - 1) / SpecConfig().prefill_chunk)
    assert forwards["regular"] == prefill_forwards + len(reference)
    assert forwards["multilayer"] < forwards["lookup"] < forwards["regular"]
    assert forwards["multilayer"] < forwards["draft"]
