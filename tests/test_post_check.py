"""The user's --check command after an apply: its result, the file it gets, and a bounded run time."""

from __future__ import annotations

import time
from pathlib import Path

from app.post_check import CheckResult, run_post_check


def make_file(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    file = tmp_path / "pkg" / "my mod.py"
    file.write_text("x = 1\n")
    return file


def test_passing_check_sees_the_file_quoted_and_in_the_environment(tmp_path):
    file = make_file(tmp_path)
    result = run_post_check('cat {file} && echo "$SPECEDIT_FILE" && pwd', tmp_path, file)
    assert result.ok and result.returncode == 0
    assert result.output.splitlines() == ["x = 1", str(file), str(tmp_path)]
    assert result.command == "cat 'pkg/my mod.py' && echo \"$SPECEDIT_FILE\" && pwd"
    assert result.summary().startswith("check passed")


def test_failing_check_keeps_its_output_and_exit_status(tmp_path):
    file = make_file(tmp_path)
    result = run_post_check("echo out; echo err >&2; exit 7", tmp_path, file)
    assert not result.ok and result.returncode == 7
    assert result.output.splitlines() == ["out", "err"]
    assert result.summary() == "check failed (exit 7): echo out; echo err >&2; exit 7"


def test_check_that_hangs_is_killed_with_its_children(tmp_path):
    file = make_file(tmp_path)
    marker = tmp_path / "child-survived"
    started = time.monotonic()
    result = run_post_check(f"(sleep 3; touch {marker}) & sleep 30", tmp_path, file, timeout=0.5)
    assert time.monotonic() - started < 10
    assert result.timed_out and not result.ok and "killed after 0.5 s" in result.output
    time.sleep(3.5)
    assert not marker.exists()  # the whole process group went, not just the shell


def test_long_output_keeps_its_end(tmp_path):
    file = make_file(tmp_path)
    result = run_post_check("seq 1 100000", tmp_path, file)
    assert result.output.endswith("99999\n100000\n") and len(result.output) <= 20_001


def test_summary_of_a_check_that_could_not_run():
    assert CheckResult("x", None, "no shell").summary() == "check could not run: x"
