"""``specedit bench`` end to end on a tiny saved model: all methods, losslessness checked, files written."""

from __future__ import annotations

import json

import pytest

from app.cli import main


@pytest.fixture()
def dataset(tmp_path):
    rows = [
        {
            "id": "a",
            "before": "def f(x):\n    return x\n",
            "instruction": "rename f to g",
            "after": "def g(x):\n    return x\n",
        },
        {"id": "b", "before": "x = 1\ny = 2\n", "instruction": "swap", "after": "y = 2\nx = 1\n"},
    ]
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def bench(model_dir, dataset, *extra):
    """Run the bench on the tiny model with a small budget; the exit code."""
    base = ["bench", "--dataset", str(dataset), "--model", str(model_dir), "--max-new-tokens", "8"]
    return main([*base, *extra])


def test_bench_runs_all_methods_identically_and_writes_json_and_plot(
    tiny_model_dir, dataset, tmp_path, capsys
):
    out_json, out_png, out_md = tmp_path / "b.json", tmp_path / "b.png", tmp_path / "b.md"
    methods = "regular,lookup,draft,multilayer,hf-pld,hf-assisted"
    code = bench(
        tiny_model_dir,
        dataset,
        "--no-warmup",
        "--methods",
        methods,
        "--json",
        str(out_json),
        "--plot",
        str(out_png),
        "--markdown",
        str(out_md),
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    data = json.loads(out_json.read_text())
    assert {r["method"] for r in data["runs"]} == set(methods.split(","))
    assert all(r["identical"] for r in data["runs"])
    assert len(data["runs"]) == 2 * 6
    assert out_png.stat().st_size > 0
    assert "| multilayer | 2 | 2/2 |" in out_md.read_text()
    assert "multilayer" in printed and "x regular" in printed


def test_grid_mode_reports_best_config(tiny_model_dir, dataset, capsys):
    code = bench(
        tiny_model_dir,
        dataset,
        "--methods",
        "regular",
        "--limit",
        "1",
        "--no-warmup",
        "--grid",
        "max_num_run=1,2",
    )
    assert code == 0
    assert "best config: multilayer[max_num_run=" in capsys.readouterr().out


def test_compare_formats_reports_whole_and_lazy(tiny_model_dir, dataset, capsys):
    assert bench(tiny_model_dir, dataset, "--compare-formats") == 0
    out = capsys.readouterr().out
    assert "whole" in out and "lazy" in out


def test_bad_method_and_dataset_are_clear_errors(tmp_path, capsys):
    assert main(["bench", "--dataset", str(tmp_path / "none.jsonl")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["bench", "--dataset", "x", "--methods", "warp"]) == 2
    assert "unknown method" in capsys.readouterr().err
