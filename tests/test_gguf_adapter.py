"""The LoRA export for llama.cpp (adapter.gguf) and its use by a llama.cpp draft.

The tiny GGUFs are float32, so llama.cpp with the exported adapter must compute the torch model with
the same LoRA merged, up to llama.cpp's float16 KV cache; that checks names, shapes, alpha / r and
the Llama Q/K row permutation (the tiny model has grouped KV heads, so K's permutation is its own).
The builtin smollm2 GGUF is Q4_1: there the adapter must move llama.cpp's logits towards the torch
model's merged ones (correlation, argmax agreement), not to bit equality.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGUFReader

from app.cli import main
from decoding.models.load import LoadedModels
from decoding.personal.gguf_adapter import (
    ADAPTER_GGUF,
    AdapterExportError,
    gguf_lora_tensors,
    read_base_layout,
    write_gguf_adapter,
)
from decoding.personal.log import EditLog
from decoding.personal.tune import METADATA_NAME, read_metadata, use_tuned_draft
from tests.spec_support import lively_llama
from tests.test_tune import typed
from tests.tiny_gguf import write_tiny_gguf
from tests.tiny_models import make_byte_tokenizer, make_tiny_llama

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="!!! llama-cpp-python NOT INSTALLED (run `make setup`: it builds it) !!!"
)
from decoding.models.llamacpp import LlamaCppModel  # noqa: E402  (needs llama_cpp)

MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROMPT = list(
    make_byte_tokenizer()("def area(w, h):\n    return w * h\n", add_special_tokens=False)["input_ids"]
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Exact-verify verdicts and adapters of temporary models stay out of the user's cache; torch runs
    one thread here (a busy 2-core box), and the next test module gets its thread count back."""
    monkeypatch.setattr("decoding.models.llamacpp.cache_dir", lambda: tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_lora(
    model: torch.nn.Module, out: Path, scale: float, layers: list[int] | None = None
) -> torch.nn.Module:
    """Give ``model`` (in place) a seeded random LoRA (r=4, alpha=8), save it in ``out``; the merged model."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=MODULES, layers_to_transform=layers, init_lora_weights=False
    )
    peft = get_peft_model(model, config)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * scale)
    peft.save_pretrained(str(out))
    return peft.merge_and_unload().eval()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A float32 GGUF of a lively tiny Llama, a random LoRA for it, and the merged torch model."""
    folder = tmp_path_factory.mktemp("adapter")
    gguf = folder / "base.gguf"
    write_tiny_gguf(gguf, model=lively_llama(0))
    merged = random_lora(lively_llama(0), folder / "lora", scale=0.3)
    return {"gguf": gguf, "lora": folder / "lora", "merged": merged}


def test_export_writes_a_llama_cpp_lora_adapter(tiny: dict) -> None:
    out = write_gguf_adapter(tiny["lora"], tiny["gguf"])
    assert out == tiny["lora"] / ADAPTER_GGUF
    reader = GGUFReader(out)
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}  # llama.cpp order: ne[0], ne[1]
    assert len(shapes) == 2 * len(MODULES) * 4
    assert shapes["blk.0.attn_q.weight.lora_a"] == [64, 4] and shapes["blk.0.attn_q.weight.lora_b"] == [4, 64]
    assert shapes["blk.3.attn_k.weight.lora_b"] == [4, 32]  # 2 KV heads of 16
    assert shapes["blk.3.ffn_down.weight.lora_a"] == [128, 4]
    assert not list(tiny["lora"].glob(".*.tmp"))


def test_llama_cpp_with_the_adapter_computes_the_merged_lora(tiny: dict) -> None:
    write_gguf_adapter(tiny["lora"], tiny["gguf"])
    draft = LlamaCppModel(tiny["gguf"], context=512, threads=1, target=False)
    plain = draft.forward(PROMPT, keep=len(PROMPT))
    draft.use_adapter(tiny["lora"] / ADAPTER_GGUF)
    assert draft.tokens == []  # the cache held logits of the plain model
    tuned = draft.forward(PROMPT, keep=len(PROMPT))
    with torch.inference_mode():
        want = tiny["merged"](input_ids=torch.tensor([PROMPT])).logits[0]
    assert (tuned - plain).abs().max() > 1.0
    assert (tuned - want).abs().max() < 0.1  # float16 KV cache: the same margin as without an adapter
    assert tuned.argmax(-1).tolist() == want.argmax(-1).tolist()
    draft.close()


def test_a_target_never_takes_an_adapter(tiny: dict) -> None:
    write_gguf_adapter(tiny["lora"], tiny["gguf"])
    target = LlamaCppModel(tiny["gguf"], context=512, threads=1)
    with pytest.raises(ValueError, match="target never takes an adapter"):
        target.use_adapter(tiny["lora"] / ADAPTER_GGUF)
    target.close()


def test_an_adapter_for_another_model_is_refused_by_name_and_by_shape(tiny: dict, tmp_path: Path) -> None:
    lora = tmp_path / "lora"
    lora.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (lora / name).write_bytes((tiny["lora"] / name).read_bytes())
    smaller = tmp_path / "two-layers.gguf"
    write_tiny_gguf(smaller, model=make_tiny_llama(num_layers=2))
    with pytest.raises(AdapterExportError, match=r"no blk\.[23]\.\w+\.weight"):
        write_gguf_adapter(lora, smaller)
    assert sorted(p.name for p in lora.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    layout = read_base_layout(tiny["gguf"])
    a, b = "model.layers.0.mlp.up_proj.lora_A.weight", "model.layers.0.mlp.up_proj.lora_B.weight"
    with pytest.raises(AdapterExportError, match="does not fit"):
        gguf_lora_tensors({a: np.zeros((4, 65), np.float32), b: np.zeros((128, 4), np.float32)}, layout)
    with pytest.raises(AdapterExportError, match="has no"):
        gguf_lora_tensors({a: np.zeros((4, 64), np.float32)}, layout)
    with pytest.raises(AdapterExportError, match="no llama.cpp tensor"):
        gguf_lora_tensors({"model.layers.0.mlp.fc1.lora_A.weight": np.zeros((4, 64), np.float32)}, layout)


def test_llama_cpp_refuses_an_adapter_of_another_model(tiny: dict, tmp_path: Path) -> None:
    """An adapter.gguf that no longer fits its draft (the draft file changed) fails cleanly."""
    from decoding.models.store import ModelError

    write_gguf_adapter(tiny["lora"], tiny["gguf"])
    smaller = tmp_path / "two.gguf"
    write_tiny_gguf(smaller, model=make_tiny_llama(num_layers=2))
    draft = LlamaCppModel(smaller, context=512, threads=1, target=False)
    plain = draft.forward(PROMPT, keep=2)
    with pytest.raises(ModelError, match="refused the adapter"):
        draft.use_adapter(tiny["lora"] / ADAPTER_GGUF)
    draft.rollback(0)
    assert torch.equal(draft.forward(PROMPT, keep=2), plain)  # still the plain draft
    draft.close()


def llama_models(tiny: dict) -> LoadedModels:
    return LoadedModels(
        LlamaCppModel(tiny["gguf"], context=512, threads=1),
        LlamaCppModel(tiny["gguf"], context=512, threads=1, target=False),
        make_byte_tokenizer(),
        torch.device("cpu"),
        "tiny",
        "tiny-draft",
    )


def test_use_tuned_draft_gives_a_llama_cpp_draft_the_adapter(
    tiny: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adapter_dir = tmp_path / "tuned"
    adapter_dir.mkdir()
    (adapter_dir / METADATA_NAME).write_text(json.dumps({"draft": "tiny-draft", "k": None}))
    models = llama_models(tiny)
    assert not use_tuned_draft(models, adapter_dir)  # no adapter.gguf: the plain draft, with a warning
    assert "run `specedit tune` again" in caplog.text and models.draft_name == "tiny-draft"
    write_gguf_adapter(tiny["lora"], tiny["gguf"])
    (adapter_dir / ADAPTER_GGUF).write_bytes((tiny["lora"] / ADAPTER_GGUF).read_bytes())
    plain_target = models.target.forward(PROMPT, keep=3)
    assert use_tuned_draft(models, adapter_dir)
    assert models.draft_name == "tuned (tiny-draft)" and "draft tuned (tiny-draft)" in models.describe()
    with torch.inference_mode():
        want = tiny["merged"](input_ids=torch.tensor([PROMPT])).logits[0, -3:]
    assert (models.draft.forward(PROMPT, keep=3) - want).abs().max() < 0.1
    models.target.rollback(0)
    assert torch.equal(models.target.forward(PROMPT, keep=3), plain_target)  # the target is untouched


def test_a_self_speculative_adapter_needs_torch(
    tiny: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adapter_dir = tmp_path / "self"
    adapter_dir.mkdir()
    (adapter_dir / METADATA_NAME).write_text(json.dumps({"draft": "self", "k": 2}))
    models = llama_models(tiny)
    models.draft, models.draft_name = None, None
    assert not use_tuned_draft(models, adapter_dir)
    assert "needs the torch engine" in caplog.text
    assert not use_tuned_draft(models)  # found on its own: nothing to say, llama.cpp has no early exit


@pytest.fixture
def gguf_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    target, draft = tmp_path / "target.gguf", tmp_path / "draft.gguf"
    write_tiny_gguf(target, model=make_tiny_llama(seed=1, num_layers=4))
    write_tiny_gguf(draft, model=make_tiny_llama(seed=2, num_layers=2))
    return target, draft


def test_tune_with_a_separate_gguf_draft_loads_only_the_draft_and_exports_the_adapter(
    gguf_pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import decoding.models.load as load

    target, draft = gguf_pair
    loaded: list[str] = []
    real = load._load_weights

    def recording(path: str, *args: object, **kwargs: object) -> object:
        loaded.append(Path(path).name)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    def no_target(*args: object, **kwargs: object) -> None:
        raise AssertionError("specedit tune with a separate draft must not load the target")

    monkeypatch.setattr(load, "_load_weights", recording)
    monkeypatch.setattr(load, "load_models", no_target)
    edits = EditLog(tmp_path / "edits.jsonl")
    edits.append(typed("alpha"))
    args = ["tune", "--model", str(target), "--draft", str(draft), "--log", str(edits.path), "--steps", "2"]
    assert main([*args, "--device", "cpu"]) == 0
    assert len(loaded) == 1 and loaded[0].startswith("draft-")  # the draft's converted copy, nothing else
    adapter_dir = tmp_path / "cache" / "specedit" / "adapters" / "draft.gguf"
    assert read_metadata(adapter_dir)["draft"] == "draft.gguf"
    reader = GGUFReader(adapter_dir / ADAPTER_GGUF)
    assert {t.name for t in reader.tensors} >= {"blk.1.ffn_down.weight.lora_a", "blk.1.attn_k.weight.lora_b"}
    assert main(["tune", "--model", str(target), "--draft", str(draft), "--reset"]) == 0
    assert not adapter_dir.exists()


def test_the_app_runs_its_llama_cpp_draft_with_the_tuned_adapter(
    gguf_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """`specedit tune`, then the backend the app builds: the llama.cpp draft is the tuned one."""
    from app.backends import make_backend
    from app.run_options import RunOptions

    target, draft = gguf_pair
    edits = EditLog(tmp_path / "edits.jsonl")
    edits.append(typed("alpha"))
    tune = ["tune", "--model", str(target), "--draft", str(draft), "--log", str(edits.path), "--steps", "2"]
    assert main([*tune, "--device", "cpu"]) == 0
    options = RunOptions(model=str(target), draft=str(draft), engine="llamacpp", method="draft", device="cpu")
    backend = make_backend(options)
    assert isinstance(backend.models.draft, LlamaCppModel)
    assert backend.models.draft_name == "tuned (draft.gguf)"
    assert "draft tuned (draft.gguf)" in backend.describe()


@pytest.mark.slow
def test_builtin_gguf_with_the_adapter_follows_the_merged_torch_lora(
    builtin_models: LoadedModels, tmp_path: Path
) -> None:
    """smollm2 (Q4_1) with a random LoRA on three layers: llama.cpp's logits move to the merged model's."""
    from decoding.models.builtin import builtin_gguf

    merged = random_lora(copy.deepcopy(builtin_models.target), tmp_path, scale=0.12, layers=[0, 1, 2])
    write_gguf_adapter(tmp_path, builtin_gguf("smollm2"))
    text = (
        "def total(items):\n    return sum(item.price * item.count for item in items)\n\nclass Inventory:\n"
    )
    ids = builtin_models.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        want = merged(input_ids=torch.tensor([ids])).logits[0].numpy()
        base = builtin_models.target(input_ids=torch.tensor([ids])).logits[0].numpy()
    draft = LlamaCppModel(builtin_gguf("smollm2"), context=512, threads=1, target=False)
    plain = draft.forward(ids, keep=len(ids)).numpy()
    draft.use_adapter(tmp_path / ADAPTER_GGUF)
    tuned = draft.forward(ids, keep=len(ids)).numpy()
    draft.close()

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    def agree(a: np.ndarray, b: np.ndarray) -> float:
        return float((a.argmax(-1) == b.argmax(-1)).mean())

    # Measured: the LoRA leaves 11 % of the model's choices as they were; llama.cpp with the adapter
    # makes 85 % of the merged model's choices (Q4_1 weights), logits correlated 0.995 (plain: 0.36).
    assert agree(base, want) < 0.5
    assert agree(tuned, want) >= 0.75 and agree(plain, want) < 0.5
    assert corr(tuned, want) > 0.98 and corr(plain, want) < 0.9
