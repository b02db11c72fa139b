"""Fault drills in real processes: kill -9, a group kill, Ctrl-C and concurrent runs against one repository.

Each child (``tests/faults_child.py``) runs one apply/undo/redo and stops at a named point of it; the test
kills it there and checks that the next specedit run leaves disk, index and history consistent with
nothing lost. Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.atomic import read_text
from tests.gitrepo import META, git, isolate_git, make_repo
from tests.processes import default_sigint
from vcs.journal import JOURNAL_NAME
from vcs.repo import EditRepo

PROJECT = Path(__file__).resolve().parents[1]
WAIT_S = 30.0


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))


def spawn(
    root: Path, op: str, *args: str, pause: str | None = None, stderr: Path | None = None
) -> subprocess.Popen:
    extra = [*args]
    if pause is not None:
        extra += ["--pause", pause, "--ready", str(ready_file(root))]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults_child", str(root), op, *extra],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=stderr.open("w") if stderr is not None else subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a group kill reaches only it and its git
        preexec_fn=default_sigint,
    )


def ready_file(root: Path) -> Path:
    return root.parent / "child-ready"


def wait_until_paused(root: Path, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ready_file(root).exists():
        if child.poll() is not None:
            pytest.fail(f"child ended before its pause: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("child never reached its pause")
        time.sleep(0.02)
    ready_file(root).unlink()


def finish(child: subprocess.Popen) -> tuple[int, str]:
    out, _ = child.communicate(timeout=WAIT_S)
    return child.returncode, out


def apply_args(path: Path, new: str, old: str) -> list[str]:
    return ["--file", str(path), "--new", new, "--old", old]


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def assert_consistent(root: Path) -> None:
    """Disk, index and HEAD agree, and nothing a dead run left behind remains."""
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (root / ".git" / "index.lock").exists()
    assert not (root / ".git" / "specedit" / JOURNAL_NAME).exists()
    assert not [p.name for p in root.iterdir() if p.name.endswith(".specedit-tmp")]


@pytest.mark.parametrize("point", ["before-write", "temp-written", "before-commit", "index-locked"])
def test_group_kill_before_the_commit_is_rolled_back_by_the_next_run(tmp_path: Path, point: str) -> None:
    root = make_repo(tmp_path)
    before = head(root)
    child = spawn(root, "apply", *apply_args(root / "f.py", "model text\n", "one\ntwo\n"), pause=point)
    wait_until_paused(root, child)
    os.killpg(child.pid, signal.SIGKILL)
    finish(child)
    assert (root / ".git" / "specedit" / JOURNAL_NAME).exists()  # the dead run left work unfinished

    with EditRepo.open(root) as repo:  # the next start repairs
        assert read_text(root / "f.py") == "one\ntwo\n"
        assert head(root) == before
        assert_consistent(root)
        repo.apply_edit(root / "f.py", "next\n", "one\ntwo\n", instruction="next", meta=META)
        assert repo.undo().instruction == "next"
    assert read_text(root / "f.py") == "one\ntwo\n"
    assert "model text" not in git(root, "log", "-p", "--all")  # never committed as the user's own save


def test_kill_after_the_commit_keeps_the_edit_and_finishes_it(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        repo.apply_edit(root / "f.py", "undone\n", "one\ntwo\n", instruction="undone", meta=META)
        repo.undo()  # leaves a redo entry that the new edit must clear
    child = spawn(root, "apply", *apply_args(root / "f.py", "kept\n", "one\ntwo\n"), pause="committed")
    wait_until_paused(root, child)
    os.kill(child.pid, signal.SIGKILL)
    finish(child)

    with EditRepo.open(root) as repo:
        assert read_text(root / "f.py") == "kept\n"
        assert git(root, "log", "-1", "--format=%s").strip() == "set 'kept\\n'"
        assert_consistent(root)
        assert git(root, "for-each-ref", "refs/specedit/redo") == ""
        assert repo.undo().instruction == "set 'kept\\n'"
    assert read_text(root / "f.py") == "one\ntwo\n"


def test_ctrl_c_during_the_commit_puts_the_file_back_at_once(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "f.py").write_text("user work\n")  # uncommitted: saved in its own commit first
    child = spawn(
        root, "apply", *apply_args(root / "f.py", "model text\n", "user work\n"), pause="before-commit"
    )
    wait_until_paused(root, child)
    os.kill(child.pid, signal.SIGINT)
    code, _ = finish(child)
    assert code != 0
    # no later run needed: the interrupted run itself restored the file and dropped its journal
    assert read_text(root / "f.py") == "user work\n"
    assert git(root, "log", "-1", "--format=%s").strip() == "specedit: save your changes to f.py before edit"
    assert_consistent(root)


@pytest.mark.parametrize("action", ["undo", "redo"])
def test_kill_inside_undo_or_redo_is_finished_by_the_retry_without_a_second_step(
    tmp_path: Path, action: str
) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        first = repo.apply_edit(root / "f.py", "1\n", "one\ntwo\n", instruction="first", meta=META)
        second = repo.apply_edit(root / "f.py", "2\n", "1\n", instruction="second", meta=META)
        if action == "redo":
            repo.undo()
    child = spawn(root, action, pause="restore")
    wait_until_paused(root, child)
    os.kill(child.pid, signal.SIGKILL)
    finish(child)
    expected_head, expected_text = (first, "1\n") if action == "undo" else (second, "2\n")
    assert head(root) == expected_head and read_text(root / "f.py") != expected_text  # half done

    with EditRepo.open(root) as repo:
        step = repo.undo() if action == "undo" else repo.redo()
        assert (step.sha, step.head) == (second, expected_head)  # the interrupted step, not another one
        assert read_text(root / "f.py") == expected_text
        assert_consistent(root)
        # the history still works both ways
        if action == "undo":
            assert repo.redo().sha == second
        else:
            assert repo.undo().sha == second
            assert repo.undo().sha == first


def test_concurrent_edits_of_one_file_never_mix_texts(tmp_path: Path) -> None:
    for round_ in range(3):
        root = make_repo(tmp_path / f"round{round_}")
        start = root.parent / "go"
        texts = ["from A\n", "from B\n"]
        children = [
            spawn(root, "apply", *apply_args(root / "f.py", text, "one\ntwo\n"), "--start", str(start))
            for text in texts
        ]
        time.sleep(0.3)  # both are imported and waiting at the start line
        start.write_text("")
        results = [finish(child) for child in children]
        winners = [text for text, (code, _) in zip(texts, results, strict=True) if code == 0]
        losers = [out for code, out in results if code != 0]
        assert len(winners) == 1, results
        assert "changed on disk since it was read" in losers[0]
        assert read_text(root / "f.py") == winners[0]
        assert git(root, "show", "HEAD:f.py") == winners[0]
        assert_consistent(root)


def test_concurrent_edits_of_two_files_both_commit(tmp_path: Path) -> None:
    for round_ in range(3):
        root = make_repo(tmp_path / f"round{round_}", {"a.py": "a\n", "b.py": "b\n"})
        start = root.parent / "go"
        children = [
            spawn(
                root,
                "apply",
                *apply_args(root / name, f"{name} edited\n", f"{name[0]}\n"),
                "--start",
                str(start),
            )
            for name in ("a.py", "b.py")
        ]
        time.sleep(0.3)
        start.write_text("")
        results = [finish(child) for child in children]
        assert [code for code, _ in results] == [0, 0], results
        for name in ("a.py", "b.py"):
            assert git(root, "show", f"HEAD:{name}") == f"{name} edited\n"
        assert len(git(root, "log", "--format=%H").split()) == 3
        assert_consistent(root)


def test_a_run_waits_for_the_lock_says_so_and_goes_on_when_the_holder_dies(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"a.py": "a\n", "b.py": "b\n"})
    holder = spawn(root, "apply", *apply_args(root / "a.py", "A\n", "a\n"), pause="before-commit")
    wait_until_paused(root, holder)
    log = tmp_path / "waiter.err"
    waiter = spawn(root, "apply", *apply_args(root / "b.py", "B\n", "b\n"), stderr=log)
    deadline = time.monotonic() + WAIT_S
    while "waiting for another specedit run" not in log.read_text():
        assert time.monotonic() < deadline and waiter.poll() is None, log.read_text()
        time.sleep(0.02)
    assert f"(pid {holder.pid})" in log.read_text()
    assert waiter.poll() is None  # still waiting: the holder is alive
    os.kill(holder.pid, signal.SIGKILL)
    finish(holder)
    code, out = finish(waiter)
    assert code == 0, out
    assert "rolled back the interrupted specedit edit of a.py" in log.read_text()
    assert read_text(root / "a.py") == "a\n" and read_text(root / "b.py") == "B\n"
    assert_consistent(root)
