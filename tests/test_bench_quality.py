"""``bench --check``: answers are tested in a child process (time limit, no network), flags are tallied."""

from __future__ import annotations

import builtins
import json
import socket
import time

import pytest

from app.cli import main
from decoding.bench.quality import QualityChecker, QualityResult, run_tests, summarize
from decoding.bench.runner import BenchItem, MethodRun
from tests.tiny_models import make_byte_tokenizer

ADD = "def add(a, b):\n    return a + b\n"
TESTS = "def check():\n    assert add(2, 3) == 5\n"


def test_passing_and_failing_answers():
    assert run_tests(ADD, TESTS)[0] == "pass"
    outcome, detail = run_tests(ADD.replace("a + b", "a - b"), TESTS)
    assert outcome == "fail" and "AssertionError" in detail


def test_tests_without_a_check_function_run_as_a_script():
    assert run_tests(ADD, "assert add(1, 1) == 2\n")[0] == "pass"
    assert run_tests(ADD, "assert add(1, 1) == 3\n")[0] == "fail"


def test_hanging_tests_are_killed_at_the_time_limit():
    started = time.monotonic()
    outcome, _ = run_tests(ADD, "import time\ntime.sleep(60)\n", timeout=1)
    assert outcome == "timeout" and time.monotonic() - started < 15


def test_tests_cannot_reach_the_network():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        tests = (
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')\n"
        )
        outcome, detail = run_tests(ADD, tests)
    assert outcome == "fail" and "connected" not in detail.replace("network", "")


def test_test_code_is_never_run_in_our_process():
    assert run_tests(ADD, "import builtins\nbuiltins.SPECEDIT_PWNED = True\n")[0] == "pass"
    assert not hasattr(builtins, "SPECEDIT_PWNED")


def item(tests: str | None = TESTS, before: str = ADD) -> BenchItem:
    return BenchItem("i1", "file.py", before, "make add subtract", None, tests)


def run_of(method: str) -> MethodRun:
    return MethodRun("i1", method, True, None, 0, 0, 1.0, 1, 0)


def test_checker_extracts_checks_tests_and_tallies_flags():
    tok = make_byte_tokenizer()
    checker = QualityChecker(tok)
    ids = {
        "good": ADD.replace("a + b", "a + b  # same") + "```\n",
        "flagged-failing": "def add(a, b):\n    return c\n```\n",
        "cut": "def add(a, b):\n    ret",
    }
    for method, answer in ids.items():
        checker.on_answer(item(), run_of(method), tok(answer, add_special_tokens=False)["input_ids"])
    summaries = {s.method: s for s in checker.run_all()}
    assert summaries["good"].passed == 1 and summaries["good"].flagged_passing == 0
    assert summaries["flagged-failing"].flagged_failing == 1
    assert summaries["cut"].no_file == 1 and summaries["cut"].passed == 0
    flagged = [r for r in checker.results if r.method == "flagged-failing"][0]
    assert flagged.findings == ("names: line 2: undefined name 'c'",)


def test_identical_answers_are_tested_once(monkeypatch):
    calls = []
    monkeypatch.setattr("decoding.bench.quality.run_tests", lambda *args: calls.append(args) or ("pass", ""))
    checker = QualityChecker(make_byte_tokenizer())
    for method in ("regular", "lookup"):
        checker.add(item(), method, ADD + "```\n")
    assert len(calls) == 1 and [r.outcome for r in checker.results] == ["pass", "pass"]


def test_summary_counts_flagged_passing_and_missed_failures_and_skips_items_without_tests():
    results = [
        QualityResult("a", "m", "pass", ("deletion: x",)),
        QualityResult("b", "m", "fail"),
        QualityResult("c", "m", "timeout", ("syntax: y",)),
        QualityResult("d", "m", "no-tests"),
    ]
    (s,) = summarize(results)
    assert (s.items, s.passed, s.flagged_passing, s.unflagged_failing, s.flagged_failing) == (3, 1, 1, 1, 1)
    assert s.outcomes == {"pass": 1, "fail": 1, "timeout": 1, "no-tests": 1}


@pytest.fixture()
def dataset(tmp_path):
    rows = [
        {"id": "a", "before": ADD, "instruction": "rename add to plus", "tests": TESTS},
        {"id": "b", "before": "x = 1\n", "instruction": "x = 2", "tests": None},
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_bench_check_reports_pass_rate_per_method(tiny_model_dir, dataset, tmp_path, capsys):
    out_json, out_md = tmp_path / "b.json", tmp_path / "b.md"
    args = ["bench", "--dataset", str(dataset), "--model", str(tiny_model_dir), "--max-new-tokens", "8"]
    code = main(
        [
            *args,
            "--no-warmup",
            "--methods",
            "lookup",
            "--check",
            "--json",
            str(out_json),
            "--markdown",
            str(out_md),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    data = json.loads(out_json.read_text())
    # 8 random-weight tokens are no closed file block: no file for item a, item b has no tests
    assert [(q["method"], q["items"], q["no_file"]) for q in data["quality"]] == [
        ("regular", 1, 1),
        ("lookup", 1, 1),
    ]
    assert "tests passed (bench --check)" in printed and "| lookup | 1 | 0 | 0% | 1 |" in out_md.read_text()


def test_dataset_edits_are_checked_and_tested_as_a_reference_row():
    good = BenchItem("g", "file.py", ADD, "rename add to plus", None, TESTS, ADD.replace("a + b", "b + a"))
    shrunk = "def add(a, b): return a + b\n"
    flagged = BenchItem("f", "file.py", ADD * 3, "tidy up", None, TESTS, shrunk)
    checker = QualityChecker(make_byte_tokenizer())
    for bench_item in (good, flagged):
        checker.on_answer(bench_item, run_of("regular"), [])
    summaries = {s.method: s for s in checker.run_all()}
    reference = summaries["reference"]
    assert (reference.items, reference.passed, reference.flagged_passing) == (2, 2, 1)
    assert summaries["regular"].no_file == 2  # no tokens: no file, never tested
