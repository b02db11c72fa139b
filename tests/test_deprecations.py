"""No transformers deprecation reaches a user through our calls.

transformers 5.24 renamed the forward's ``past_key_values`` to ``cache`` (the old name warns and goes
in 5.40), and peft's wrapping reads an attribute transformers 5.x deprecates. Every test here turns
FutureWarning into an error, so a call site that goes back to an old name fails before 5.40 breaks it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from decoding.engine.kv import CachedModel
from decoding.personal.tune import TuneConfig, load_tuned_draft, tune_models
from tests.openai_server import ChatServer
from tests.test_tune import loaded, typed
from tests.tiny_models import make_byte_tokenizer, make_tiny_llama

pytestmark = pytest.mark.filterwarnings("error::FutureWarning")

IDS = list(range(40, 60))


def test_the_engines_cached_forward_and_rollback_use_the_supported_cache_argument() -> None:
    runner = CachedModel(make_tiny_llama(seed=0, num_layers=2))
    runner.forward(IDS, keep=1)
    runner.rollback(10)
    assert runner.forward(IDS[10:], keep=2).shape[0] == 2


def test_training_and_loading_a_tuned_draft_warn_nothing(tmp_path: Path) -> None:
    target = make_tiny_llama(seed=0, num_layers=4)
    draft = make_tiny_llama(seed=3, num_layers=1)
    adapter_dir = tmp_path / "adapter"
    tune_models(loaded(target, draft), [typed("alpha")], TuneConfig(steps=1), adapter_dir=adapter_dir)
    tuned = load_tuned_draft(make_tiny_llama(seed=3, num_layers=1), adapter_dir)
    CachedModel(tuned).forward(IDS, keep=1)


def test_the_test_servers_greedy_decoding_uses_the_supported_cache_argument() -> None:
    """The OpenAI-backend tests' reference server decodes with a KV cache like the engine does."""
    with ChatServer(make_tiny_llama(seed=1, num_layers=2), make_byte_tokenizer()) as chat:
        streamed = list(chat.generate("def f(x):", 6))
    assert sum(token != -1 for _, token in streamed) >= 1
