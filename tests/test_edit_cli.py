"""``specedit edit`` end to end on a tiny model saved to disk (real model resolution and loading)."""

from __future__ import annotations

import subprocess

import pytest

from app.cli import main
from vcs.repo import EditRepo


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """The edit cache and tuning data of these tests must not touch the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture()
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    git(tmp_path, "add", "m.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return tmp_path


def edit(tiny_model_dir, file, *extra):
    args = [
        "edit",
        str(file),
        "-m",
        "make f return 2",
        "--model",
        str(tiny_model_dir),
        "--max-new-tokens",
        "12",
    ]
    return main([*args, *extra])


def test_edit_prints_diff_and_writes_nothing_without_yes(tiny_model_dir, repo, capsys):
    assert edit(tiny_model_dir, repo / "m.py") == 0
    out = capsys.readouterr()
    assert out.out.startswith("--- a/m.py") or "proposed no change" in out.err
    assert (repo / "m.py").read_text() == "def f():\n    return 1\n"
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"


def test_edit_with_yes_commits_the_proposal(tiny_model_dir, repo, capsys):
    assert edit(tiny_model_dir, repo / "m.py", "--yes", "--method", "multilayer") == 0
    err = capsys.readouterr().err
    assert "applied and committed" in err
    records = EditRepo.open(repo).log()
    assert [r.instruction for r in records] == ["make f return 2"]
    assert records[0].meta.method == "multilayer"
    assert git(repo, "status", "--porcelain") == ""


def test_applied_edit_feeds_cache_and_log(tiny_model_dir, repo, capsys):
    assert edit(tiny_model_dir, repo / "m.py", "--yes") == 0
    applied = (repo / "m.py").read_text()
    # --method auto: no separate or tuned draft, so the measured-faster lookup runs (docs/benchmarks.md)
    assert EditRepo.open(repo).log()[0].meta.method == "lookup"
    log_file = repo / ".git" / "specedit" / "edits.jsonl"
    assert log_file.is_file() and "make f return 2" in log_file.read_text()
    git(repo, "reset", "-q", "--hard", "HEAD~1")  # back to the original content
    capsys.readouterr()
    assert edit(tiny_model_dir, repo / "m.py", "--yes") == 0
    assert "cached" in capsys.readouterr().err
    assert (repo / "m.py").read_text() == applied
    assert len(log_file.read_text().splitlines()) == 1  # a cache hit teaches the draft nothing new


def test_edit_refuses_binary_missing_and_unversioned_files(tiny_model_dir, repo, tmp_path_factory, capsys):
    (repo / "b.bin").write_bytes(b"\x00\x01\x02")
    assert edit(tiny_model_dir, repo / "b.bin") == 4
    assert "binary" in capsys.readouterr().err
    assert edit(tiny_model_dir, repo / "nope.py") == 2
    assert "not a file" in capsys.readouterr().err
    loose = tmp_path_factory.mktemp("loose")
    (loose / "x.py").write_text("x = 1\n")
    assert edit(tiny_model_dir, loose / "x.py", "--yes") == 4
    assert "init" in capsys.readouterr().err


def test_unknown_model_is_a_clear_error(repo, capsys):
    assert main(["edit", str(repo / "m.py"), "-m", "x", "--model", str(repo / "no-such-model")]) == 5
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no-such-model" in err and "Traceback" not in err
