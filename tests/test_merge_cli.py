"""``specedit merge ORIGINAL ANSWER`` through the real argument parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main

ORIGINAL = "import os\n\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"
ANSWER = "# ... existing code ...\n\n\ndef g():\n    return 3\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_prints_the_merged_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = write(tmp_path, "mod.py", ORIGINAL)
    answer = write(tmp_path, "answer.txt", ANSWER)
    assert main(["merge", str(original), str(answer)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ORIGINAL.replace("return 2", "return 3")
    assert captured.err == ""
    assert original.read_text() == ORIGINAL  # nothing is written


def test_language_option_overrides_the_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = write(tmp_path, "style.txt", "a {\n  color: red;\n}\n\nb {\n  color: blue;\n}\n")
    answer = write(tmp_path, "answer.txt", "/* ... existing code ... */\n\nb {\n  color: green;\n}\n")
    assert main(["merge", str(original), str(answer), "--language", "css"]) == 0
    assert capsys.readouterr().out == "a {\n  color: red;\n}\n\nb {\n  color: green;\n}\n"


@pytest.mark.parametrize(
    ("name", "answer", "reason"),
    [
        ("mod.py", "def g(:\n", "answer does not parse"),
        ("mod.py", "def g():\n    return 3\n", "would delete"),
        ("mod.rb", ANSWER, "not ruby"),
        ("mod", ANSWER, "not this file type"),
    ],
)
def test_refusal_exits_3_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, answer: str, reason: str
) -> None:
    original = write(tmp_path, name, ORIGINAL)
    answer_path = write(tmp_path, "answer.txt", answer)
    assert main(["merge", str(original), str(answer_path)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and reason in captured.err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answer = write(tmp_path, "answer.txt", ANSWER)
    assert main(["merge", str(tmp_path / "nope.py"), str(answer)]) == 2
    assert "nope.py" in capsys.readouterr().err


def test_merged_file_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = write(tmp_path, "mod.py", ORIGINAL)
    answer = write(tmp_path, "answer.txt", "# ... existing code ...\n\n\ndef g():\n    return h()\n")
    assert main(["merge", str(original), str(answer)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ORIGINAL.replace("return 2", "return h()")  # shown, flagged, never written
    assert "specedit merge: check: names: line 9: undefined name 'h'" in captured.err


def test_unchanged_merge_is_reported_as_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = write(tmp_path, "mod.py", ORIGINAL)
    answer = write(tmp_path, "answer.txt", "# ... existing code ...\n\n\ndef g():\n    return 2\n")
    assert main(["merge", str(original), str(answer)]) == 3
    assert "check: no-change" in capsys.readouterr().err


def test_console_script_keeps_the_exit_status(tmp_path: Path) -> None:
    original = write(tmp_path, "mod.py", ORIGINAL)
    answer = write(tmp_path, "answer.txt", "def g(:\n")
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "merge", str(original), str(answer)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3 and "does not parse" in done.stderr and done.stdout == ""
