from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from decoding.events import Stats
from decoding.personal.log import EditLog, EditRecord, default_log_path, find_git_dir
from decoding.request import EditRequest


def record(n: int, size: int = 10) -> EditRecord:
    request = EditRequest(path="a.py", original="x" * size, instruction=f"edit {n}")
    return EditRecord.create(
        request,
        raw=f"raw {n}",
        accepted=f"out {n}",
        method="multilayer",
        model="m",
        stats=Stats(new_tokens=n, accepted={"draft": n}),
    )


def test_round_trip(tmp_path: Path) -> None:
    log = EditLog(tmp_path / "log.jsonl")
    assert log.records() == []
    assert log.append(record(1))
    assert log.append(record(2))
    got = log.records()
    assert [r.request.instruction for r in got] == ["edit 1", "edit 2"]
    assert replace(got[0], time=0.0) == replace(record(1), time=0.0)
    assert got[1].stats["accepted"] == {"draft": 2}
    assert got[1].raw == "raw 2" and got[1].accepted == "out 2" and got[1].method == "multilayer"


def test_cap_drops_the_oldest_records(tmp_path: Path) -> None:
    one = len(record(0, size=100).to_json().encode()) + 1
    log = EditLog(tmp_path / "log.jsonl", max_bytes=3 * one + one // 2)
    for n in range(6):
        log.append(record(n, size=100))
    assert log.path.stat().st_size <= log.max_bytes
    assert [r.request.instruction for r in log.records()] == ["edit 3", "edit 4", "edit 5"]


def test_record_larger_than_the_cap_is_refused(tmp_path: Path) -> None:
    log = EditLog(tmp_path / "log.jsonl", max_bytes=len(record(1).to_json()) + 50)
    assert log.append(record(1))
    assert not log.append(record(2, size=1000))
    assert [r.request.instruction for r in log.records()] == ["edit 1"]


def test_torn_line_is_skipped(tmp_path: Path) -> None:
    log = EditLog(tmp_path / "log.jsonl")
    log.append(record(1))
    with log.path.open("a") as f:
        f.write('{"request": {"path": "a.py"')
    assert [r.request.instruction for r in log.records()] == ["edit 1"]


def test_clear(tmp_path: Path) -> None:
    log = EditLog(tmp_path / "log.jsonl")
    assert not log.clear()
    log.append(record(1))
    assert log.clear()
    assert log.records() == []
    assert not log.path.exists()


def test_log_lives_inside_dot_git_and_is_never_tracked(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "src" / "a.py").write_text("x = 1\n")
    path = default_log_path(repo / "src" / "a.py")
    assert path == (repo / ".git" / "specedit" / "edits.jsonl").resolve()
    EditLog(path).append(record(1))
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "edits.jsonl" not in status and "specedit" not in status


def test_worktree_dot_git_file_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "gitdir"
    real.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / ".git").write_text(f"gitdir: {real}\n")
    assert find_git_dir(work) == real.resolve()


def test_outside_a_repository_the_log_goes_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    outside = tmp_path / "plain"
    outside.mkdir()
    assert find_git_dir(outside) is None, "pytest's tmp_path must not sit inside a git repository"
    assert default_log_path(outside) == tmp_path / "cache" / "specedit" / "edits" / "log.jsonl"


def test_cap_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cap"):
        EditLog(tmp_path / "log.jsonl", max_bytes=0)
