"""Fault drills through the command line: refusals come before any model runs, exit 4, and name the reason.

``--model`` points at a model that does not exist: a run that got as far as loading it would exit 5, so
exit 4 proves the refusal came first (no generation is wasted on an edit that cannot be applied).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from tests.gitrepo import git, isolate_git, make_repo

NO_MODEL = ["--model", "/nonexistent/model-dir", "--no-cache"]


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def edit_yes(path: Path, *extra: str) -> int:
    return main(["edit", str(path), "-m", "change it", "--yes", *NO_MODEL, *extra])


def test_edit_through_a_symlink_into_another_repository_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = make_repo(tmp_path / "mine")
    other = make_repo(tmp_path / "other", {"secret.py": "s\n", "pkg/m.py": "m\n"})
    (mine / "link.py").symlink_to(other / "secret.py")
    (mine / "pkg").symlink_to(other / "pkg")
    for path in (mine / "link.py", mine / "pkg" / "m.py"):
        assert edit_yes(path) == 4
        assert "symlink" in capsys.readouterr().err
    assert git(other, "log", "--format=%s").split("\n")[0] == "initial"


def test_init_is_refused_where_a_symlink_leads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain, elsewhere = tmp_path / "plain", tmp_path / "elsewhere"
    plain.mkdir()
    elsewhere.mkdir()
    (elsewhere / "real.py").write_text("x\n")
    (plain / "link.py").symlink_to(elsewhere / "real.py")
    assert edit_yes(plain / "link.py", "--init") == 4
    assert "symlink" in capsys.readouterr().err
    assert not (plain / ".git").exists() and not (elsewhere / ".git").exists()


@pytest.mark.parametrize("case", ["ignored", "read-only", "rebase"])
def test_files_that_cannot_be_committed_are_refused_before_generating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    root = make_repo(tmp_path, {"f.py": "f\n", ".gitignore": "*.log\n"})
    target = root / "f.py"
    if case == "ignored":
        target = root / "run.log"
        target.write_text("log\n")
    elif case == "read-only":
        target.chmod(0o444)
    else:
        (root / ".git" / "rebase-merge").mkdir()
    assert edit_yes(target) == 4
    err = capsys.readouterr().err
    assert {"ignored": "ignored by git", "read-only": "read-only", "rebase": "middle of a rebase"}[
        case
    ] in err
    assert git(root, "log", "--format=%s").strip() == "initial"


def test_config_never_shows_credentials_of_the_base_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECEDIT_BASE_URL", "http://alice:SECRETKEY@gpu-box:8000/v1?api-key=QUERYKEY")
    assert main(["config", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "http://gpu-box:8000/v1" in out
    assert "SECRETKEY" not in out and "QUERYKEY" not in out and "alice" not in out
