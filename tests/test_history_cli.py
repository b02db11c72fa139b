"""``specedit undo | redo | log`` through the real argument parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from common.atomic import read_text
from tests.gitrepo import META, git, isolate_git, make_repo
from vcs.repo import EditMeta, EditRepo


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))


def two_edits(tmp_path: Path) -> tuple[Path, str, str]:
    root = make_repo(tmp_path)
    path = root / "f.py"
    with EditRepo.open(root) as repo:
        first = repo.apply_edit(path, "1\n", read_text(path), instruction="first edit", meta=META)
        meta = EditMeta(
            model="other/model",
            method="plain",
            new_tokens=2,
            chars_per_s=5.0,
            tokens_per_s=1.5,
            engine="llama.cpp",
        )
        second = repo.apply_edit(path, "2\n", "1\n", instruction="second edit", meta=meta)
    return root, first, second


def test_undo_redo_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, first, second = two_edits(tmp_path)
    assert main(["undo", str(root / "f.py")]) == 0
    out = capsys.readouterr().out
    assert f"undo {second[:7]} 'second edit'" in out
    assert f"HEAD is {first[:7]}" in out
    assert (root / "f.py").read_text() == "1\n"
    assert main(["redo", str(root)]) == 0
    assert f"redo {second[:7]}" in capsys.readouterr().out
    assert (root / "f.py").read_text() == "2\n"


def test_refusals_exit_4_with_the_reason_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path)
    assert main(["undo", str(root)]) == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: the last commit ")
    assert "not a specedit edit" in captured.err
    assert main(["redo", str(root)]) == 4
    assert capsys.readouterr().err == "error: nothing to redo\n"


def test_non_git_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("undo", "redo", "log"):
        assert main([command, str(tmp_path)]) == 4
        assert "not inside a git repository" in capsys.readouterr().err
    assert not (tmp_path / ".git").exists()


def test_log_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, first, second = two_edits(tmp_path)
    assert main(["log", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "hash",
        "time",
        "instruction",
        "model",
        "method",
        "engine",
        "chars/s",
        "tok/s",
        "speed-up",
    ]
    assert lines[1].startswith(second[:7]) and "second edit" in lines[1]
    assert lines[1].split()[-6:] == ["other/model", "plain", "llama.cpp", "5.0", "1.5", "-"]
    assert lines[2].startswith(first[:7])
    assert lines[2].split()[-6:] == ["tiny", "multilayer", META.engine, "123.4", "31.2", "2.50x"]
    assert len(lines) == 3  # the user's initial commit is not listed
    assert main(["log", str(root), "-n", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_log_without_edits_and_bad_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path)
    assert main(["log", str(root)]) == 0
    assert capsys.readouterr().out == "no specedit edits in this history yet\n"
    with pytest.raises(SystemExit):
        main(["log", str(root), "-n", "0"])
    assert "must be a positive number" in capsys.readouterr().err


def test_default_path_is_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, second = two_edits(tmp_path)
    monkeypatch.chdir(root)
    assert main(["undo"]) == 0
    assert git(root, "log", "-1", "--format=%s").strip() == "first edit"
    assert main(["redo"]) == 0
    assert git(root, "rev-parse", "HEAD").strip() == second
