"""Fault drills on repository states and hostile paths: refusals that name the reason and change nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from common.atomic import read_text
from tests.gitrepo import META, USER, git, isolate_git, make_repo
from vcs import repo as repo_module
from vcs.repo import EditMeta, EditRepo, VcsError


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def edit(repo: EditRepo, path: Path, new_text: str, instruction: str = "change it") -> str:
    return repo.apply_edit(path, new_text, read_text(path), instruction=instruction, meta=META)


# -- lost or misfiled work -----------------------------------------------------------------------


@pytest.mark.parametrize("change", ["rewrite", "delete"])
def test_a_refused_edit_commits_nothing_not_even_the_users_work(tmp_path: Path, change: str) -> None:
    root = make_repo(tmp_path)
    before = head(root)
    (root / "f.py").write_text("work in progress\n")
    read = read_text(root / "f.py")
    if change == "rewrite":
        (root / "f.py").write_text("newer work\n")
    else:
        (root / "f.py").unlink()
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="changed on disk|deleted"):
        repo.apply_edit(root / "f.py", "proposal\n", read, instruction="x", meta=META)
    assert head(root) == before  # no "save your changes" commit
    assert git(root, "status", "--porcelain") == (" M f.py\n" if change == "rewrite" else " D f.py\n")


def test_undo_refuses_an_edit_amended_with_another_file(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"f.py": "f\n", "g.py": "g\n"})
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "F\n")
    (root / "g.py").write_text("user's g\n")
    git(root, "commit", "-q", "--amend", "--no-edit", "-a")
    amended = head(root)
    with (
        EditRepo.open(root) as repo,
        pytest.raises(VcsError, match=r"holds more than specedit's edit.*g\.py"),
    ):
        repo.undo()
    assert head(root) == amended and read_text(root / "g.py") == "user's g\n"


def test_undo_refuses_an_edit_whose_file_was_amended(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "model\n")
    (root / "f.py").write_text("model\nand the user's fix\n")
    git(root, "commit", "-q", "--amend", "--no-edit", "-a")
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="changed after specedit made it"):
        repo.undo()
    assert read_text(root / "f.py") == "model\nand the user's fix\n"


def test_a_staged_version_that_differs_from_the_working_copy_is_not_dropped(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "f.py").write_text("staged\n")
    git(root, "add", "f.py")
    (root / "f.py").write_text("staged\nand unstaged\n")
    before = head(root)
    with EditRepo.open(root) as repo:
        with pytest.raises(VcsError, match="staged changes and different unstaged ones"):
            repo.check_editable(root / "f.py")
        with pytest.raises(VcsError, match="staged"):
            edit(repo, root / "f.py", "proposal\n")
    assert head(root) == before
    assert git(root, "show", ":f.py") == "staged\n"  # the index still holds the staged version
    git(root, "add", "f.py")  # fully staged: nothing can be lost, so the edit goes ahead
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "proposal\n")
    assert git(root, "show", "HEAD~1:f.py") == "staged\nand unstaged\n"


def test_undo_refuses_an_edit_on_any_remote_tracking_ref_without_upstream(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "backup", str(remote))
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "pushed\n")
        git(root, "push", "-q", "backup", "main:elsewhere")  # no upstream is set
        with pytest.raises(VcsError, match=r"already on backup/elsewhere \(pushed\)"):
            repo.undo()
    assert read_text(root / "f.py") == "pushed\n"


def stopped(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """Run a git command that stops half-way (a conflict, an ``edit`` step) as the user would."""
    done = subprocess.run(
        ["git", *USER, *args], cwd=root, capture_output=True, env={**os.environ, **(env or {})}
    )
    assert done.returncode in (0, 1), done.stderr


def _stop_in_merge(root: Path) -> None:
    git(root, "checkout", "-q", "-b", "side")
    (root / "f.py").write_text("side\n")
    git(root, "commit", "-q", "-am", "side")
    git(root, "checkout", "-q", "main")
    (root / "f.py").write_text("main\n")
    git(root, "commit", "-q", "-am", "main")
    stopped(root, "merge", "-q", "side")


def _stop_in_cherry_pick(root: Path) -> None:
    _stop_in_merge(root)
    git(root, "merge", "--abort")
    stopped(root, "cherry-pick", "side")


def _stop_in_rebase(root: Path) -> None:
    (root / "f.py").write_text("second\n")
    git(root, "commit", "-q", "-am", "second")
    stopped(root, "rebase", "-q", "-i", "HEAD~1", env={"GIT_SEQUENCE_EDITOR": "sed -i 1s/^pick/edit/"})


def _stop_in_bisect(root: Path) -> None:
    git(root, "bisect", "start")


@pytest.mark.parametrize(
    ("stop", "name"),
    [(_stop_in_merge, "a merge"), (_stop_in_cherry_pick, "a cherry-pick"), (_stop_in_rebase, "a rebase"),
     (_stop_in_bisect, "a bisect")],
)  # fmt: skip
def test_nothing_is_committed_into_a_stopped_git_operation(tmp_path: Path, stop: object, name: str) -> None:
    root = make_repo(tmp_path, {"f.py": "f\n", "g.py": "g\n"})
    with EditRepo.open(root) as repo:
        edit(repo, root / "g.py", "G\n")  # an edit to undo later
    stop(root)  # type: ignore[operator]
    before = head(root)
    with EditRepo.open(root) as repo:
        with pytest.raises(VcsError, match=f"in the middle of {name}"):
            repo.check_editable(root / "g.py")
        with pytest.raises(VcsError, match=f"in the middle of {name}"):
            edit(repo, root / "g.py", "inside\n")
        for step in (repo.undo, repo.redo):
            with pytest.raises(VcsError, match=f"in the middle of {name}"):
                step()
    assert head(root) == before and read_text(root / "g.py") == "G\n"


# -- security and scope --------------------------------------------------------------------------


def test_a_symlinked_file_never_leads_into_another_repository(tmp_path: Path) -> None:
    mine = make_repo(tmp_path / "mine")
    other = make_repo(tmp_path / "other", {"secret.py": "secret\n"})
    (mine / "link.py").symlink_to(other / "secret.py")
    before = head(other)
    with pytest.raises(VcsError, match="symlink.*outside"), EditRepo.open(mine / "link.py") as repo:
        repo.check_editable(mine / "link.py")
    assert head(other) == before and read_text(other / "secret.py") == "secret\n"


def test_a_symlinked_folder_never_leads_into_another_repository(tmp_path: Path) -> None:
    mine = make_repo(tmp_path / "mine")
    other = make_repo(tmp_path / "other", {"pkg/m.py": "m\n"})
    (mine / "pkg").symlink_to(other / "pkg")
    with pytest.raises(VcsError, match="symlink.*outside"):
        EditRepo.open(mine / "pkg" / "m.py")
    assert git(other, "log", "--format=%s").split("\n")[0] == "initial"


def test_init_never_runs_where_a_symlink_leads(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    elsewhere = tmp_path / "elsewhere"
    plain.mkdir()
    elsewhere.mkdir()
    (elsewhere / "real.py").write_text("x\n")
    (plain / "link.py").symlink_to(elsewhere / "real.py")
    with pytest.raises(VcsError, match="symlink.*outside"):
        EditRepo.open(plain / "link.py", init=True)
    assert not (plain / ".git").exists() and not (elsewhere / ".git").exists()


def test_server_urls_and_credentials_stay_out_of_the_commit(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    model = "qwen via http://alice:SECRETKEY@gpu-box:8000/v1?api-key=QUERYKEY (OpenAI-compatible)"
    meta = EditMeta(model=model, method="lookup", new_tokens=1, chars_per_s=1.0, tokens_per_s=1.0)
    with EditRepo.open(root) as repo:
        repo.apply_edit(root / "f.py", "x\n", "one\ntwo\n", instruction="x", meta=meta)
    message = git(root, "log", "-1", "--format=%B")
    assert "Specedit-Model: qwen (OpenAI-compatible)" in message
    for leak in ("SECRETKEY", "QUERYKEY", "alice", "gpu-box", "http"):
        assert leak not in message


def test_a_read_only_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "f.py").chmod(0o444)
    before = head(root)
    with EditRepo.open(root) as repo:
        with pytest.raises(VcsError, match="f.py is read-only"):
            repo.check_editable(root / "f.py")
        with pytest.raises(VcsError, match="read-only"):
            edit(repo, root / "f.py", "x\n")
    assert read_text(root / "f.py") == "one\ntwo\n" and head(root) == before
    assert (root / "f.py").stat().st_mode & 0o777 == 0o444


def test_a_failed_write_is_a_message_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a read-only folder does to a non-root user (root may write anyway, so it is injected)."""
    root = make_repo(tmp_path)
    before = head(root)

    def refuse(path: Path, text: str) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(repo_module, "atomic_write_text", refuse)
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="cannot write f.py: Permission denied"):
        edit(repo, root / "f.py", "x\n")
    assert read_text(root / "f.py") == "one\ntwo\n" and head(root) == before
    assert git(root, "status", "--porcelain") == ""
    assert not (root / ".git" / "specedit" / "journal.json").exists()


def test_ignored_files_are_refused_before_generating_even_with_literal_pathspecs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_LITERAL_PATHSPECS", "1")  # the user's own setting must not matter either
    root = make_repo(tmp_path, {"f.py": "f\n", ".gitignore": "*.log\n"})
    (root / "run.log").write_text("log\n")
    with EditRepo.open(root) as repo:
        with pytest.raises(VcsError, match=r"run\.log is ignored by git"):
            repo.check_editable(root / "run.log")
        assert repo.check_editable(root / "f.py") == "f.py"


def test_a_repository_that_cannot_be_locked_is_a_message(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / ".git" / "specedit").write_text("")  # a file where specedit's folder goes: ENOTDIR, for root too
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="cannot lock the repository"):
        edit(repo, root / "f.py", "x\n")
    assert read_text(root / "f.py") == "one\ntwo\n"


def test_a_symlink_from_outside_into_a_repositorys_folder_is_refused_not_git_inited(tmp_path: Path) -> None:
    other = make_repo(tmp_path / "other", {"pkg/m.py": "m\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pkg").symlink_to(other / "pkg")
    for init in (False, True):
        with pytest.raises(VcsError, match=r"leads through a symlink into the repository .*other"):
            EditRepo.open(outside / "pkg", init=init)
    assert not (other / "pkg" / ".git").exists() and not (outside / ".git").exists()


def test_temporary_files_of_a_killed_journal_write_are_removed(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    state = root / ".git" / "specedit"
    state.mkdir()
    leftover = state / ".journal.json.0123456789ab.specedit-tmp"
    leftover.write_text("{half")
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "x\n")
    assert not leftover.exists()
