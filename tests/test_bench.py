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
    assert len(grid) == 6 and {"micro_draft_tokens": 40, "max_num_run": 4} in grid
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
