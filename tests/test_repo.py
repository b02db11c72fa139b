"""EditRepo on temporary repositories: one test per rule of DESIGN.md section 5."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from common.atomic import UnsafePathError, atomic_write_text, contained_path, read_text
from tests.gitrepo import META, git, isolate_git, make_repo
from vcs.repo import EditMeta, EditRepo, VcsError


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def subjects(root: Path) -> list[str]:
    return git(root, "log", "--format=%s").splitlines()


def edit(repo: EditRepo, path: Path, new_text: str, instruction: str = "change it") -> str:
    return repo.apply_edit(path, new_text, read_text(path), instruction=instruction, meta=META)


# -- opening -------------------------------------------------------------------------------------


def test_non_git_folder_is_refused_with_a_hint_and_init_creates_a_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.py").write_text("x = 1\n")
    with pytest.raises(VcsError, match="not inside a git repository.*git init.*--init"):
        EditRepo.open(folder / "a.py")
    assert not (folder / ".git").exists()
    with EditRepo.open(folder / "a.py", init=True) as repo:
        assert repo.root == folder.resolve()
        edit(repo, folder / "a.py", "x = 2\n")
    assert (folder / ".git").is_dir()
    assert subjects(folder) == ["change it", "specedit: save your changes to a.py before edit"]


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VcsError, match="no such file"):
        EditRepo.open(tmp_path / "nope")


# -- applying edits ------------------------------------------------------------------------------


def test_edit_is_one_commit_with_subject_body_trailers_and_fallback_identity(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        sha = edit(repo, root / "f.py", "one\n2\n", "use digits\n\nfor the second line only")
    assert sha == head(root)
    assert (root / "f.py").read_text() == "one\n2\n"
    message = git(root, "log", "-1", "--format=%B")
    assert message.startswith("use digits\n\nfor the second line only\n\nSpecedit-Edit: 1\n")
    trailers = ["Specedit-Model: tiny", "Specedit-Method: multilayer", "Specedit-Tokens: 42"]
    trailers += ["Specedit-Chars-Per-S: 123.4", "Specedit-Tokens-Per-S: 31.2", "Specedit-Speedup: 2.50"]
    for trailer in trailers:
        assert trailer in message.splitlines()
    assert "Co-authored-by" not in message
    assert git(root, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip() == (
        "specedit <specedit@localhost>|specedit <specedit@localhost>"
    )
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["f.py"]
    assert git(root, "status", "--porcelain") == ""
    assert not (Path(os.environ["HOME"]) / ".gitconfig").exists()  # no global config written


def test_repository_identity_is_used_when_configured(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    git(root, "config", "user.name", "Repo Owner")
    git(root, "config", "user.email", "owner@example.com")
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "changed\n")
    assert git(root, "log", "-1", "--format=%an <%ae>").strip() == "Repo Owner <owner@example.com>"


def test_dirty_file_is_committed_first_and_other_work_is_left_alone(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"f.py": "one\n", "other.py": "o\n", "notes.txt": "n\n"})
    (root / "f.py").write_text("one\nmine\n")  # the user's unsaved-to-git work on the target
    (root / "other.py").write_text("o staged\n")
    git(root, "add", "other.py")
    (root / "notes.txt").write_text("n unstaged\n")
    with EditRepo.open(root) as repo:
        sha = edit(repo, root / "f.py", "ONE\nmine\n")
    assert subjects(root) == ["change it", "specedit: save your changes to f.py before edit", "initial"]
    assert git(root, "show", "HEAD~1:f.py") == "one\nmine\n"
    assert "Specedit-Save: 1" in git(root, "log", "-1", "--format=%B", "HEAD~1")
    assert git(root, "show", "--name-only", "--format=", sha).split() == ["f.py"]
    status = git(root, "status", "--porcelain").splitlines()
    assert status == [" M notes.txt", "M  other.py"]
    with EditRepo.open(root) as repo:
        repo.undo()
        assert (root / "f.py").read_text() == "one\nmine\n"  # the user's version, not the first commit's
        with pytest.raises(VcsError, match="not a specedit edit"):
            repo.undo()
    assert git(root, "status", "--porcelain").splitlines() == status


def test_an_untracked_file_is_saved_before_its_edit_and_a_clean_one_is_not(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "new.py").write_text("fresh\n")
    with EditRepo.open(root) as repo:
        edit(repo, root / "new.py", "FRESH\n")
        edit(repo, root / "f.py", "ONE\n")
    assert subjects(root) == [
        "change it", "change it", "specedit: save your changes to new.py before edit", "initial"
    ]  # fmt: skip
    assert git(root, "show", "HEAD~2:new.py") == "fresh\n"


def test_file_changed_on_disk_since_read_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    before = head(root)
    read = read_text(root / "f.py")
    (root / "f.py").write_text("edited elsewhere\n")
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="changed on disk since it was read"):
        repo.apply_edit(root / "f.py", "proposal\n", read, instruction="x", meta=META)
    assert (root / "f.py").read_text() == "edited elsewhere\n"
    assert head(root) == before


def test_edit_that_changes_nothing_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="unchanged"):
        edit(repo, root / "f.py", "one\ntwo\n")


def test_new_file_is_created_and_its_undo_removes_it(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        repo.apply_edit(root / "new.py", "print(1)\n", "", instruction="add a script", meta=META)
        assert (root / "new.py").read_text() == "print(1)\n"
        step = repo.undo()
    assert step.files == (root.resolve() / "new.py",)
    assert not (root / "new.py").exists()
    assert git(root, "status", "--porcelain") == ""


def test_failed_commit_rolls_the_file_back(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    before = head(root)
    (root / ".git" / "index.lock").write_text("")  # another git process holds the index
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="git commit failed"):
        edit(repo, root / "f.py", "proposal\n")
    (root / ".git" / "index.lock").unlink()
    assert (root / "f.py").read_text() == "one\ntwo\n"
    assert head(root) == before
    assert git(root, "status", "--porcelain") == ""


def test_crlf_text_round_trips_exactly(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "w.txt").write_bytes(b"a\r\nb\r\n")
    with EditRepo.open(root) as repo:
        repo.apply_edit(root / "w.txt", "a\r\nB\r\n", "a\r\nb\r\n", instruction="caps", meta=META)
    assert (root / "w.txt").read_bytes() == b"a\r\nB\r\n"


# -- path safety ---------------------------------------------------------------------------------


def test_symlink_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    outside = tmp_path / "outside.py"
    outside.write_text("secret\n")
    (root / "link.py").symlink_to(outside)
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="symlink.*outside"):
        repo.apply_edit(root / "link.py", "pwned\n", "secret\n", instruction="x", meta=META)
    assert outside.read_text() == "secret\n"


def test_symlink_inside_the_root_edits_its_target(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "alias.py").symlink_to(root / "f.py")
    with EditRepo.open(root) as repo:
        edit(repo, root / "alias.py", "via alias\n")
    assert (root / "alias.py").is_symlink()
    assert (root / "f.py").read_text() == "via alias\n"


def test_files_outside_the_opened_path_or_inside_dot_git_or_ignored_are_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"f.py": "f\n", "sub/g.py": "g\n", ".gitignore": "*.log\n"})
    (root / "run.log").write_text("log\n")
    with EditRepo.open(root / "sub") as repo:
        with pytest.raises(VcsError, match="outside"):
            edit(repo, root / "f.py", "x\n")
        with pytest.raises(VcsError, match="outside"):
            edit(repo, root / "sub" / ".." / "f.py", "x\n")
        edit(repo, root / "sub" / "g.py", "G\n")
    with EditRepo.open(root) as repo:
        with pytest.raises(VcsError, match="git's own folder"):
            edit(repo, root / ".git" / "description", "x\n")
        with pytest.raises(VcsError, match="ignored"):
            edit(repo, root / "run.log", "x\n")
    assert (root / "f.py").read_text() == "f\n"


def test_contained_path() -> None:
    root = Path("/srv/project")
    assert contained_path(root, root / "a" / "b.py") == Path("/srv/project/a/b.py")
    with pytest.raises(UnsafePathError, match="outside"):
        contained_path(root, root / ".." / "etc" / "passwd")


def test_atomic_write_preserves_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("#!/bin/sh\n")
    target.chmod(0o751)
    atomic_write_text(target, "#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert target.read_text() == "#!/bin/sh\necho hi\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["script.sh"]


def test_atomic_write_of_a_new_file_follows_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_edit_through_the_repo_preserves_the_executable_bit(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"run.sh": "#!/bin/sh\n"})
    (root / "run.sh").chmod(0o755)
    git(root, "add", "run.sh")
    git(root, "commit", "-q", "-m", "executable")
    with EditRepo.open(root) as repo:
        edit(repo, root / "run.sh", "#!/bin/sh\necho hi\n")
    assert stat.S_IMODE((root / "run.sh").stat().st_mode) == 0o755
    assert git(root, "status", "--porcelain") == ""


# -- undo ----------------------------------------------------------------------------------------


def test_undo_twice_then_refuses_at_the_users_commit(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    initial = head(root)
    with EditRepo.open(root) as repo:
        first = edit(repo, root / "f.py", "1\n", "first")
        second = edit(repo, root / "f.py", "2\n", "second")
        step = repo.undo()
        assert (step.sha, step.head, step.instruction) == (second, first, "second")
        assert step.files == (root.resolve() / "f.py",)
        assert (root / "f.py").read_text() == "1\n"
        assert repo.undo().head == initial
        assert (root / "f.py").read_text() == "one\ntwo\n"
        with pytest.raises(VcsError, match=r"not a specedit edit"):
            repo.undo()
    assert git(root, "status", "--porcelain") == ""


def test_undo_after_a_manual_commit_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "edited\n")
    (root / "f.py").write_text("by hand\n")
    git(root, "commit", "-q", "-am", "manual fix")
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match=r"'manual fix'.*not a specedit edit"):
        repo.undo()
    assert (root / "f.py").read_text() == "by hand\n"


def test_undo_is_refused_when_the_edited_file_has_local_changes(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        sha = edit(repo, root / "f.py", "edited\n")
        (root / "f.py").write_text("edited\nand more by hand\n")
        with pytest.raises(VcsError, match="f.py has uncommitted changes"):
            repo.undo()
    assert head(root) == sha
    assert (root / "f.py").read_text() == "edited\nand more by hand\n"


def test_undo_of_a_merge_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"f.py": "f\n", "g.py": "g\n"})
    git(root, "checkout", "-q", "-b", "side")
    (root / "g.py").write_text("side\n")
    git(root, "commit", "-q", "-am", "side")
    git(root, "checkout", "-q", "main")
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "F\n")
    git(root, "merge", "-q", "--no-ff", "side", "-m", "merge side\n\nSpecedit-Edit: 1")
    with EditRepo.open(root) as repo, pytest.raises(VcsError, match="is a merge"):
        repo.undo()


def test_undo_of_a_pushed_edit_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "pushed\n", "pushed edit")
        git(root, "push", "-q", "-u", "origin", "main")
        with pytest.raises(VcsError, match="already on origin/main"):
            repo.undo()
        edit(repo, root / "f.py", "local\n", "local edit")
        assert repo.undo().instruction == "local edit"  # not pushed yet: fine
        with pytest.raises(VcsError, match="pushed"):
            repo.undo()
    assert (root / "f.py").read_text() == "pushed\n"


def test_detached_head_refuses_undo_and_redo(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "edited\n")
    git(root, "checkout", "-q", "--detach")
    with EditRepo.open(root) as repo:
        with pytest.raises(VcsError, match="HEAD is detached"):
            repo.undo()
        with pytest.raises(VcsError, match="HEAD is detached"):
            repo.redo()
        edit(repo, root / "f.py", "edited while detached\n")  # edits still commit
    assert subjects(root)[0] == "change it"


# -- repository with no commits yet ------------------------------------------------------------


def test_first_edit_in_an_empty_repository_creates_the_root_commit(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    with EditRepo.open(root) as repo:
        assert repo.log() == []
        with pytest.raises(VcsError, match="no commits yet"):
            repo.undo()
        repo.apply_edit(root / "a.py", "x = 1\n", "", instruction="create a.py", meta=META)
        assert subjects(root) == ["create a.py"]
        with pytest.raises(VcsError, match="first commit"):
            repo.undo()
    assert (root / "a.py").read_text() == "x = 1\n"


def test_dirty_file_in_an_empty_repository_is_saved_as_the_root_commit(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.py").write_text("mine\n")
    with EditRepo.open(root) as repo:
        edit(repo, root / "a.py", "theirs\n")
        assert subjects(root) == ["change it", "specedit: save your changes to a.py before edit"]
        repo.undo()
    assert (root / "a.py").read_text() == "mine\n"


# -- redo ----------------------------------------------------------------------------------------


def test_redo_reapplies_the_same_commits_in_order(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        first = edit(repo, root / "f.py", "1\n", "first")
        second = edit(repo, root / "f.py", "2\n", "second")
        repo.undo()
        repo.undo()
        assert git(root, "for-each-ref", "--format=%(objectname)", "refs/specedit/").split() == [
            second,
            first,
        ]
        step = repo.redo()
        assert (step.sha, step.head, step.files) == (first, first, (root.resolve() / "f.py",))
        assert (root / "f.py").read_text() == "1\n"
        assert repo.redo().sha == second
        assert head(root) == second
        assert (root / "f.py").read_text() == "2\n"
        with pytest.raises(VcsError, match="nothing to redo"):
            repo.redo()
    assert git(root, "for-each-ref", "refs/specedit/") == ""


def test_redo_stack_survives_reopening(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        sha = edit(repo, root / "f.py", "edited\n")
        repo.undo()
    with EditRepo.open(root / "f.py") as repo:
        assert repo.redo().sha == sha


def test_a_new_edit_clears_the_redo_stack(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "1\n", "first")
        repo.undo()
        edit(repo, root / "f.py", "other\n", "another")
        with pytest.raises(VcsError, match="nothing to redo"):
            repo.redo()


def test_redo_after_a_manual_commit_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"f.py": "f\n", "g.py": "g\n"})
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "F\n", "caps")
        repo.undo()
        (root / "g.py").write_text("by hand\n")
        git(root, "commit", "-q", "-am", "manual")
        with pytest.raises(VcsError, match=r"cannot redo .*'caps'.*main moved since the undo.*'manual'"):
            repo.redo()
    assert (root / "f.py").read_text() == "f\n"


def test_redo_is_refused_when_the_file_has_local_changes(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with EditRepo.open(root) as repo:
        edit(repo, root / "f.py", "edited\n")
        undone = repo.undo()
        (root / "f.py").write_text("typing again\n")
        with pytest.raises(VcsError, match="f.py has uncommitted changes"):
            repo.redo()
        assert head(root) == undone.head
    assert (root / "f.py").read_text() == "typing again\n"


# -- log -----------------------------------------------------------------------------------------


def test_log_lists_only_specedit_edits_with_their_figures(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "f.py").write_text("dirty\n")
    with EditRepo.open(root) as repo:
        first = edit(repo, root / "f.py", "1\n", "first\nwith a body")
        (root / "f.py").write_text("manual\n")
        git(root, "commit", "-q", "-am", "quotes the marker\n\nSpecedit-Edit: 1\n\nbut not as a trailer")
        second = repo.apply_edit(
            root / "f.py", "2\n", "manual\n", instruction="second",
            meta=EditMeta(model="m", method="plain", new_tokens=3, chars_per_s=9.0, tokens_per_s=1.0),
        )  # fmt: skip
        records = repo.log()
        assert [(r.sha, r.instruction) for r in records] == [(second, "second"), (first, "first")]
        assert records[1].meta == META
        assert records[0].meta.speedup is None
        assert records[0].short_sha == second[:7]
        assert records[0].time.tzinfo is not None
        assert [r.sha for r in repo.log(limit=1)] == [second]
