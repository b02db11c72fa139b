from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from app.cli import main
from decoding.engine.kv import CachedModel
from decoding.models.early_exit import early_exit_draft
from decoding.models.load import LoadedModels
from decoding.personal.log import EditLog, EditRecord
from decoding.personal.tune import (
    METADATA_NAME,
    SELF_DRAFT,
    SELF_DRAFT_LR,
    SEPARATE_DRAFT_LR,
    TuneConfig,
    TuneResult,
    agreement,
    build_examples,
    early_exit_copy,
    find_adapter,
    greedy_predictions,
    load_tuned_draft,
    output_tokens,
    read_metadata,
    train_lora,
    tune_models,
    use_tuned_draft,
)
from decoding.prompts import render_prompt
from decoding.request import EditRequest
from tests.tiny_models import make_byte_tokenizer, make_tiny_llama

NAMES = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma", "theta", "zeta", "lam", "rho", "tau"]
PROBE = torch.tensor([list(range(40, 90))])


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def typed(name: str) -> EditRecord:
    """A repeated edit pattern: add type hints to a one-line function."""
    raw = f"def {name}(x: int) -> int:\n    return x\n```\n"
    request = EditRequest(f"{name}.py", f"def {name}(x):\n    return x\n", "add type hints")
    return EditRecord.create(request, raw, raw.removesuffix("```\n"), "multilayer", "tiny")


def loaded(target: torch.nn.Module, draft: torch.nn.Module | None = None) -> LoadedModels:
    return LoadedModels(
        target, draft, make_byte_tokenizer(), torch.device("cpu"), "tiny", "d" if draft else None
    )


def target_logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(PROBE).logits


def test_examples_mask_the_exact_engine_prompt_and_end_with_eos() -> None:
    tok = make_byte_tokenizer()
    record = typed("alpha")
    (example,) = build_examples([record], tok, max_tokens=4096)
    prompt = tok(render_prompt(tok, record.request), add_special_tokens=False)["input_ids"]
    assert list(example.input_ids[: example.prompt_len]) == prompt
    assert example.input_ids[-1] == tok.eos_token_id
    assert tok.decode(example.input_ids[example.prompt_len : -1]) == record.raw


def test_examples_are_truncated_and_prompt_only_ones_dropped() -> None:
    tok = make_byte_tokenizer()
    (full,) = build_examples([typed("alpha")], tok, max_tokens=4096)
    (cut,) = build_examples([typed("alpha")], tok, max_tokens=full.prompt_len + 3)
    assert cut.output_len == 3
    assert build_examples([typed("alpha")], tok, max_tokens=full.prompt_len) == []


def test_early_exit_copy_computes_the_self_speculative_draft_with_its_own_layers() -> None:
    target = make_tiny_llama(seed=1, num_layers=4)
    copy = early_exit_copy(target, 2)
    with torch.no_grad():
        assert torch.equal(copy(PROBE).logits, early_exit_draft(target, 2)(PROBE).logits)
    target_params = {id(p) for p in target.model.layers.parameters()}
    assert not any(id(p) in target_params for p in copy.model.layers.parameters())
    assert copy.config.num_hidden_layers == 2 and target.config.num_hidden_layers == 4


def test_early_exit_copy_checks_k() -> None:
    with pytest.raises(ValueError, match="between 1 and 3"):
        early_exit_copy(make_tiny_llama(num_layers=4), 4)


@pytest.fixture(scope="module")
def tuned(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[torch.nn.Module, torch.Tensor, Path, float, float]:
    """One tiny tune on 10 edits of the pattern (tune holds 2 out), measured on 2 more held-apart ones."""
    torch.set_num_threads(1)
    tok = make_byte_tokenizer()
    target = make_tiny_llama(seed=0, num_layers=4)
    before_logits = target_logits(target)
    held_out = build_examples([typed(n) for n in NAMES[10:]], tok, 1024)
    labels = output_tokens(held_out)
    draft = early_exit_copy(target, 2)
    before = agreement(greedy_predictions(draft, held_out), labels)
    adapter_dir = tmp_path_factory.mktemp("adapters") / "tiny"
    records = [typed(n) for n in NAMES[:10]]
    result = tune_models(loaded(target), records, TuneConfig(steps=40, lr=5e-3), k=2, adapter_dir=adapter_dir)
    assert result.examples == 8 and result.held_out == 2 and result.saved
    assert result.agreement_after > result.agreement_before  # on the 2 edits it did not train on
    tuned_draft = load_tuned_draft(target, adapter_dir)
    after = agreement(greedy_predictions(tuned_draft, held_out), labels)
    return target, before_logits, adapter_dir, before, after


def test_tuning_raises_held_out_agreement_on_a_repeated_pattern(tuned: tuple) -> None:
    _, _, _, before, after = tuned
    assert after >= before + 0.2, (before, after)


def test_target_is_unchanged_by_tuning_and_loading(tuned: tuple) -> None:
    target, before_logits, adapter_dir, _, _ = tuned
    models = loaded(target)
    assert use_tuned_draft(models, adapter_dir)
    assert torch.equal(target_logits(target), before_logits)
    assert models.target is target
    assert not torch.equal(target_logits(models.draft), before_logits)


def test_adapter_metadata_and_tuned_draft_name(tuned: tuple) -> None:
    target, _, adapter_dir, _, _ = tuned
    meta = read_metadata(adapter_dir)
    assert meta["draft"] == SELF_DRAFT and meta["k"] == 2 and meta["steps"] == 40 and meta["examples"] == 8
    assert meta["held_out"] == 2 and meta["lr"] == 5e-3  # an explicit rate is kept
    models = loaded(target)
    use_tuned_draft(models, adapter_dir)
    assert models.draft_name == "tuned (self k=2)"
    assert "draft tuned" in models.describe()
    assert models.draft.config.num_hidden_layers == 2


def test_tuned_draft_serves_cached_incremental_decoding(tuned: tuple) -> None:
    """The engine feeds the draft through a KV cache; the merged model must behave like any causal LM."""
    target, _, adapter_dir, _, _ = tuned
    draft = load_tuned_draft(target, adapter_dir)
    cached = CachedModel(draft)
    with torch.no_grad():
        full = draft(PROBE).logits[0, -1]
    prompt = PROBE[0].tolist()
    cached.forward(prompt[:-5], keep=1)
    last = cached.forward(prompt[-5:], keep=1)[-1]
    assert torch.allclose(full, last, atol=1e-4)


def test_separate_draft_is_tuned_in_place_and_reloaded(tmp_path: Path) -> None:
    target = make_tiny_llama(seed=0, num_layers=4)
    draft = make_tiny_llama(seed=3, num_layers=1)
    result = tune_models(
        loaded(target, draft), [typed("alpha")], TuneConfig(steps=2), adapter_dir=tmp_path / "a"
    )
    assert read_metadata(result.adapter_dir)["draft"] == "d"
    assert read_metadata(result.adapter_dir)["lr"] == SEPARATE_DRAFT_LR  # a real draft starts out good
    models = loaded(target, make_tiny_llama(seed=3, num_layers=1))
    assert use_tuned_draft(models, result.adapter_dir)
    assert models.draft.config.num_hidden_layers == 1


def test_an_adapter_that_does_not_fit_is_skipped_with_a_warning(
    tuned: tuple, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target, _, adapter_dir, _, _ = tuned
    separate = tmp_path / "separate"
    shutil.copytree(adapter_dir, separate)
    meta = read_metadata(separate)
    (separate / METADATA_NAME).write_text(json.dumps({**meta, "draft": "d"}))
    models = loaded(target)
    assert not use_tuned_draft(models, separate)
    assert models.draft is None and "pass --draft" in caplog.text
    (separate / METADATA_NAME).write_text("{")
    assert not use_tuned_draft(models, separate)
    assert "not a specedit draft adapter" in caplog.text


def test_adapter_location_follows_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert find_adapter("tiny") is None
    models = loaded(make_tiny_llama(seed=0, num_layers=4))
    assert not use_tuned_draft(models)
    result = tune_models(models, [typed("alpha")], TuneConfig(steps=1))
    assert result.adapter_dir == tmp_path / "specedit" / "adapters" / "tiny"
    assert read_metadata(result.adapter_dir)["lr"] == SELF_DRAFT_LR
    assert result.held_out == 0 and result.saved  # one edit: nothing to hold out, so nothing to check
    assert find_adapter("tiny") == result.adapter_dir


def test_empty_log_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="accept some edits"):
        tune_models(loaded(make_tiny_llama()), [], TuneConfig(steps=1))
    with pytest.raises(ValueError, match="accept some edits"):
        train_lora(make_tiny_llama(), [], TuneConfig(steps=1))


def test_a_tuning_that_hurts_held_out_edits_is_not_saved(tmp_path: Path) -> None:
    """A good draft made worse (here by a wild learning rate) keeps the adapter it had."""
    target = make_tiny_llama(seed=0, num_layers=4)
    records = [typed(n) for n in NAMES[:10]]
    first = tune_models(
        loaded(target, make_tiny_llama(seed=3, num_layers=1)),
        records,
        TuneConfig(steps=40, lr=5e-3),
        adapter_dir=tmp_path / "a",
    )
    assert first.saved and first.agreement_after > first.agreement_before
    kept = read_metadata(first.adapter_dir)
    good = load_tuned_draft(make_tiny_llama(seed=3, num_layers=1), first.adapter_dir)
    second = tune_models(
        loaded(target, good), records, TuneConfig(steps=10, lr=1.0), adapter_dir=first.adapter_dir
    )
    assert not second.saved and second.agreement_after < second.agreement_before
    assert read_metadata(first.adapter_dir) == kept


def test_cli_says_when_it_kept_no_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import app.commands.tune as command

    def worse(*args: object, **kwargs: object) -> TuneResult:
        return TuneResult(tmp_path / "none", 8, 0.9, 0.7, 2, saved=False)

    monkeypatch.setattr(command, "_tune_self", worse)
    path = tmp_path / "edits.jsonl"
    EditLog(path).append(typed("alpha"))
    assert main(["tune", "--model", "smollm2", "--draft", "none", "--log", str(path)]) == 0
    out = capsys.readouterr().out
    assert "not saved" in out and "90.0% -> 70.0%" in out and "the plain draft stays in use" in out


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid tuning settings"):
        TuneConfig(steps=0)


def test_cli_clear_log_and_empty_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "edits.jsonl"
    EditLog(path).append(typed("alpha"))
    assert main(["tune", "--clear-log", "--log", str(path)]) == 0
    assert not path.exists()
    assert main(["tune", "--log", str(path)]) == 2
    assert "accept some edits" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["draft", "multilayer"])
def test_engine_output_with_the_tuned_draft_is_plain_greedy(tuned: tuple, method: str) -> None:
    from decoding.engine.config import SpecConfig
    from decoding.engine.loop import edit_stream
    from decoding.events import Done

    target, _, adapter_dir, _, _ = tuned
    tok = make_byte_tokenizer()
    request = typed("tau").request
    prompt = tok(render_prompt(tok, request), add_special_tokens=False)["input_ids"]
    original = tok(request.original, add_special_tokens=False)["input_ids"]

    def final(draft: torch.nn.Module | None, how: str) -> Done:
        config = SpecConfig(method=how, max_new_tokens=48)  # type: ignore[arg-type]
        return [e for e in edit_stream(target, draft, tok, prompt, original, config) if isinstance(e, Done)][
            0
        ]

    plain = final(None, "regular")
    spec = final(load_tuned_draft(target, adapter_dir), method)
    assert spec.token_ids == plain.token_ids
    assert spec.stats.draft_forwards > 0
