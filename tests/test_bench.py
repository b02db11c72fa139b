"""Bench harness bookkeeping (the speed numbers themselves live in docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from decoding.bench import report
from decoding.bench import runner as bench
from decoding.bench.runner import MethodRun


def _run(method, cps, ratio, identical=True, config=None):
    return MethodRun("i", method, identical, None, 10, int(cps), 1.0, 5, 0, {}, ratio, config or {})


def test_load_dataset_reads_fields_and_computes_edit_ratio(tmp_path):
    p = tmp_path / "d.jsonl"
    rows = [
        {"id": "a", "before": "x = 1\n", "instruction": "i", "after": "x = 1\n", "lang": "python"},
        {"id": "b", "before": "int x;", "instruction": "j", "edit_ratio": 0.4, "lang": "java"},
        {"id": "c", "before": "y", "instruction": "k"},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    items = bench.load_dataset(p)
    assert [i.id for i in items] == ["a", "b", "c"]
    assert items[0].edit_ratio == 0.0 and items[0].path.endswith(".py")
    assert items[1].edit_ratio == 0.4 and items[1].path.endswith(".java")
    assert items[2].edit_ratio is None
    assert len(bench.load_dataset(p, limit=2)) == 2


def test_load_dataset_names_the_bad_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"id": 1, "before": "x"}\n')
    with pytest.raises(ValueError, match=r"d.jsonl:1"):
        bench.load_dataset(p)


def test_grid_expands_every_combination_and_rejects_unknown_names():
    grid = bench.parse_grid(["micro_draft_tokens=20,40", "max_num_run=1,2,4"])
    assert len(grid) == 6 and ("multilayer", {"micro_draft_tokens": 40, "max_num_run": 4}) in grid
    assert bench.parse_grid(["cost_policy=0,1"], "lookup") == [
        ("lookup", {"cost_policy": 0}),
        ("lookup", {"cost_policy": 1}),
    ]
    assert bench.parse_grid([]) == []
    with pytest.raises(ValueError, match="bad --grid"):
        bench.parse_grid(["nope=1"])


def test_compare_reports_first_difference():
    assert bench.compare([1, 2, 3], [1, 2, 3]) == (True, None)
    assert bench.compare([1, 2, 3], [1, 5, 3]) == (False, 1)
    assert bench.compare([1, 2, 3], [1, 2]) == (False, 2)


def test_summary_speedups_buckets_and_best_baseline():
    runs = [
        _run("regular", 10, 0.05),
        _run("regular", 20, 0.6),
        _run("lookup", 30, 0.05),
        _run("lookup", 30, 0.6),
        _run("multilayer", 45, 0.05),
        _run("multilayer", 45, 0.6, identical=False),
    ]
    rows = {r.label: r for r in report.summarize(runs)}
    assert rows["regular"].speedup_vs_regular == pytest.approx(1.0)
    assert rows["lookup"].speedup_vs_regular == pytest.approx(2.0)
    assert rows["multilayer"].identical == 1
    assert report.best_baseline(list(rows.values())).label == "lookup"
    buckets = dict(report.iter_buckets(runs))
    low = {r.label: r for r in buckets["0.0-0.1"]}
    assert low["multilayer"].speedup_vs_regular == pytest.approx(4.5)
    assert "0.1-0.3" not in buckets


def test_percentiles_interpolate():
    assert report.percentile([1, 2, 3, 4], 0.5) == pytest.approx(2.5)
    assert report.percentile([5], 0.9) == 5
    assert report.percentile([], 0.5) == 0.0


def test_grid_runs_are_labelled_by_config():
    assert report.label(_run("multilayer", 1, 0.1, config={"max_num_run": 2})) == "multilayer[max_num_run=2]"


def test_plot_writes_png(tmp_path):
    out = tmp_path / "p.png"
    report.plot([_run("regular", 10, 0.1), _run("lookup", 20, 0.2)], out, "t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_decode_rate_leaves_the_prefill_out():
    run = MethodRun("i", "lookup", True, None, 10, 40, 3.0, 4, 0, first_token_seconds=1.0)
    assert run.decode_tokens_per_s == 5.0 and run.tokens_per_s == pytest.approx(10 / 3)
    assert _run("regular", 10, 0.1).decode_tokens_per_s == 0.0  # prefill not measured: no claim
    row = report.summarize([run])[0]
    assert (row.first_token_s, row.decode_tps) == (1.0, 5.0)
    assert run.forward_share is None and row.forward_share is None  # not measured: no claim
    timed = MethodRun("i", "lookup", True, None, 10, 40, 4.0, 4, 0, forward_seconds=3.0)
    assert timed.forward_share == 0.75 and report.summarize([timed, run])[0].forward_share == 0.75
    short = MethodRun("j", "lookup", True, None, 2, 8, 1.01, 1, 0, first_token_seconds=1.0)
    assert report.summarize([run, short])[0].decode_tps == pytest.approx(12 / 2.01)  # not a mean of rates


def test_min_chars_keeps_the_long_files_and_limit_counts_those(tmp_path):
    p = tmp_path / "d.jsonl"
    rows = [{"id": i, "before": "x" * n, "instruction": "go"} for i, n in enumerate((5, 50, 500, 60))]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [i.id for i in bench.load_dataset(p, min_chars=50)] == ["1", "2", "3"]
    assert [i.id for i in bench.load_dataset(p, limit=2, min_chars=50)] == ["1", "2"]


@pytest.mark.parametrize("method", ["hf-pld", "hf-assisted"])
def test_transformers_baselines_end_like_the_engine_at_the_eos(
    method: str,
) -> None:
    """An answer that ends with the EOS token compares equal: both sides keep the EOS, or neither does.

    transformers' warning about its own assisted generate() call stays out of the bench's output.
    """
    import logging

    import torch
    from transformers.utils import logging as transformers_logging

    from decoding.bench.hf import run_baseline
    from decoding.engine.config import SpecConfig
    from decoding.engine.loop import edit_stream
    from decoding.events import Done
    from decoding.models.load import LoadedModels
    from tests.spec_support import greedy_reference, lively_llama
    from tests.tiny_models import make_byte_tokenizer

    tokenizer = make_byte_tokenizer()
    target = lively_llama(2)
    prompt = list(range(5, 40))
    greedy = greedy_reference(target, prompt, 12)
    eos = next(t for t in greedy[3:] if t not in greedy[:3])  # the answer ends with this token
    target.generation_config.eos_token_id = eos
    config = SpecConfig(method="regular", max_new_tokens=12)
    done = [e for e in edit_stream(target, None, tokenizer, prompt, prompt, config) if isinstance(e, Done)][0]
    assert done.stop_reason == "eos" and done.token_ids[-1] == eos
    models = LoadedModels(target, None, tokenizer, torch.device("cpu"), "t", None)
    transformers_logging.warning_once.cache_clear()  # shown once per process: an earlier test may have
    shown: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: shown.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("transformers.generation.utils")  # its records do not propagate
    logger.addHandler(handler)
    try:
        assert run_baseline(models, method, prompt, config).token_ids == list(done.token_ids)
    finally:
        logger.removeHandler(handler)
    assert not [m for m in shown if "generation-related" in m]
