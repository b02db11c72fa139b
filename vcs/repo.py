"""Git history of specedit edits: one commit per applied edit, undo/redo that never loses user work.

Rules (aider's undo rules are the reference):

* Every applied edit is one commit; its message is the instruction's first line, the rest of the
  instruction as body, and ``Specedit-*`` trailers (model, the method and engine that ran, speed).
  ``Specedit-Edit: 1`` marks the commit as specedit's, which survives restarts, clones and rebases,
  unlike an in-memory list of hashes.
* Uncommitted changes of the target file are committed first in their own commit (``Specedit-Save: 1``,
  not an edit, so undo never goes past it): nothing the user typed is ever discarded.
* Only the edited file is committed (``git commit --only``): other staged or unstaged work is left alone.
* Undo moves the branch back to the edit's parent and restores only the edit's files (index and working
  tree) from it; everything else, staged or not, is left as it was (``git reset --keep`` would unstage
  the user's other staged work). It is refused unless HEAD is a branch whose tip is a specedit edit, not
  a merge, not the root commit, not already contained in the upstream branch, and the edit's files are
  clean. The undone commit stays reachable under ``refs/specedit/redo/<branch>/<n>``
  (a stack), so redo fast-forwards to the very same commit.
* Redo is refused unless HEAD is still the undone edit's parent and its files are clean. A new edit
  clears the branch's redo stack.
* A detached HEAD can receive edits, but undo/redo need a branch (the redo stack is per branch), so they
  are refused there with that reason.
* Commits skip hooks (``--no-verify``): a formatting hook would make the commit differ from the reviewed
  edit, and a refusing hook would strand a written but uncommitted file.
* With no git identity configured anywhere (CI machines), commits are made as
  ``specedit <specedit@localhost>`` through per-command environment variables; no config is written.
* Apply, undo and redo are transactions: one run at a time per repository (``vcs.lock``), every check
  made again inside the lock, and a journal (``vcs.journal``) that lets the next run roll back or
  finish a step that a kill interrupted. Nothing is written while git is in the middle of a rebase,
  merge, cherry-pick, revert or bisect, and undo refuses a commit that holds more than specedit wrote
  (``Specedit-Blob`` names the exact content it committed).
* The repository is the one the path the user named is in, found without following symlinks, and the
  edited file's real path must lie inside it: a symlink never leads an edit into another repository.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import git

from common.atomic import (
    UnsafePathError,
    atomic_write_text,
    contained_path,
    read_text,
    remove_stale_temps,
)
from common.errors import Refused
from common.redact import model_label
from vcs.journal import (
    JOURNAL_NAME,
    PendingApply,
    PendingMove,
    clear_journal,
    read_journal,
    write_journal,
)
from vcs.lock import LockTimeout, LockUnavailable, repo_lock

EDIT_TRAILER = "Specedit-Edit"
SAVE_TRAILER = "Specedit-Save"
BLOB_TRAILER = "Specedit-Blob"
REDO_NAMESPACE = "refs/specedit/redo"
FALLBACK_NAME = "specedit"
FALLBACK_EMAIL = "specedit@localhost"
# What git leaves in its folder while an operation waits for the user, and what to call it.
_STOPPED_OPERATIONS = (
    ("rebase-merge", "a rebase"),
    ("rebase-apply", "a rebase (or git am)"),
    ("MERGE_HEAD", "a merge"),
    ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("REVERT_HEAD", "a revert"),
    ("BISECT_LOG", "a bisect"),
)


class VcsError(Refused):
    """A refusal or failure, worded for the user (the CLI prints it, the TUI shows it)."""


@dataclass(frozen=True)
class EditMeta:
    """How an edit was produced; stored as commit trailers and shown by ``specedit log``."""

    model: str
    method: str
    new_tokens: int
    chars_per_s: float
    tokens_per_s: float
    speedup: float | None = None
    engine: str = "?"  # who ran the model (torch, llama.cpp, a server); unknown in older commits

    def trailers(self) -> list[tuple[str, str]]:
        values = {
            "Specedit-Model": _one_line(model_label(self.model)),
            "Specedit-Method": _one_line(self.method),
            "Specedit-Engine": _one_line(self.engine),
            "Specedit-Tokens": str(self.new_tokens),
            "Specedit-Chars-Per-S": f"{self.chars_per_s:.1f}",
            "Specedit-Tokens-Per-S": f"{self.tokens_per_s:.1f}",
        }
        if self.speedup is not None:
            values["Specedit-Speedup"] = f"{self.speedup:.2f}"
        return list(values.items())

    @classmethod
    def from_trailers(cls, trailers: dict[str, str]) -> EditMeta:
        """Lenient: a hand-edited or older commit with missing or garbled figures still lists."""
        speedup = trailers.get("Specedit-Speedup")
        return cls(
            model=trailers.get("Specedit-Model", "?"),
            method=trailers.get("Specedit-Method", "?"),
            new_tokens=int(_number(trailers.get("Specedit-Tokens")) or 0),
            chars_per_s=_number(trailers.get("Specedit-Chars-Per-S")) or 0.0,
            tokens_per_s=_number(trailers.get("Specedit-Tokens-Per-S")) or 0.0,
            speedup=_number(speedup) if speedup is not None else None,
            engine=trailers.get("Specedit-Engine", "?"),
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One specedit edit in the history (``specedit log``)."""

    sha: str
    time: datetime
    instruction: str  # the commit subject: the instruction's first line
    meta: EditMeta

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class HistoryStep:
    """What an undo or redo did: ``sha`` is the edit undone/redone, ``head`` the commit HEAD is now at,
    ``files`` the (absolute) files whose content changed on disk, so a UI can reload them."""

    sha: str
    head: str
    instruction: str
    files: tuple[Path, ...]


UndoResult = HistoryStep
RedoResult = HistoryStep


class EditRepo:
    """The git repository holding an opened file or folder; edits are confined to that file or folder.

    ``notify`` is told when a run waits for another specedit run or repairs what a killed one left
    (default: a line on stderr).
    """

    def __init__(self, repo: git.Repo, scope: Path, notify: Callable[[str], None] | None = None) -> None:
        if repo.bare or repo.working_tree_dir is None:
            raise VcsError(f"{repo.git_dir} is a bare repository; specedit needs a working tree")
        self._repo = repo
        self.root = Path(repo.working_tree_dir).resolve()
        self.scope = scope
        self.notify = notify or _tell_stderr
        # The journal describes this working tree; the lock guards the refs all worktrees share.
        self._state_dir = Path(repo.git_dir) / "specedit"
        self._lock_dir = Path(repo.common_dir) / "specedit"
        # Paths are file names, never glob patterns or ':(magic)' pathspecs.
        repo.git.update_environment(GIT_LITERAL_PATHSPECS="1", GIT_TERMINAL_PROMPT="0")

    @classmethod
    def open(cls, path: Path, init: bool = False, notify: Callable[[str], None] | None = None) -> EditRepo:
        """The repository containing ``path``; with ``init`` a folder outside any repository is git-inited.

        The repository is looked up along the path as the user wrote it, not along its real path: a
        symlinked file or folder must not lead into (and commit in) another repository.
        """
        path = Path(os.path.abspath(path))
        if not path.exists():
            raise VcsError(f"no such file or folder: {path}")
        folder = path if path.is_dir() else path.parent
        top = _lexical_repository_root(folder)
        try:
            if top is None:
                real_top = _lexical_repository_root(folder.resolve())
                if real_top is not None:
                    raise VcsError(
                        f"{folder} leads through a symlink into the repository {real_top}; open it there"
                    )
                if not init:
                    raise VcsError(
                        f"{folder} is not inside a git repository; run `git init` there or pass --init"
                    )
                contained_path(folder, path)  # never git-init where a symlink leads
                repo = git.Repo.init(folder)
            else:
                repo = git.Repo(top)
            edit_repo = cls(repo, path.resolve(), notify)
            contained_path(edit_repo.root, path)
        except UnsafePathError as exc:
            raise VcsError(f"refusing to use this repository: {exc}") from None
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise VcsError(f"{top} does not hold a usable git repository ({exc})") from None
        edit_repo.recover_interrupted_apply()
        return edit_repo

    def close(self) -> None:
        """Stop GitPython's helper processes (they otherwise live until garbage collection)."""
        self._repo.close()

    def __enter__(self) -> EditRepo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- edits -----------------------------------------------------------------------------------

    def check_editable(self, file: Path) -> str:
        """``file``'s repository-relative name, or VcsError saying why specedit must not edit it.

        Everything that can be known before a model runs: callers check first so that a refusal never
        costs a generation; ``apply_edit`` checks it all again inside the lock.
        """
        self._refuse_stopped_operation("edit")
        path, rel = self._target(file)
        self._refuse_unwritable(path, rel)
        self._refuse_split_stage(rel)
        return rel

    def apply_edit(
        self, file: Path, new_text: str, expected_old: str, *, instruction: str, meta: EditMeta
    ) -> str:
        """Write ``new_text`` atomically and commit it as one specedit edit; the commit's sha.

        ``expected_old`` is the exact text the proposal was computed from (see ``common.atomic.read_text``);
        if the file no longer holds it, the edit is refused rather than overwriting newer work. A file
        that does not exist may be created when ``expected_old`` is empty. Every check runs before
        anything is committed, and the whole apply is one transaction: on any failure or interruption
        (Ctrl-C included) the file and the index go back to how they were, and after a kill the next
        specedit run does so.
        """
        with self._transaction("edit"):
            path, rel = self._target(file)
            current = _read_or_none(path)
            if current is None and expected_old:
                raise VcsError(f"{rel} was deleted since it was read; nothing applied")
            if (current or "") != expected_old:
                raise VcsError(f"{rel} changed on disk since it was read; reload it and ask again")
            if new_text == current:
                raise VcsError(f"the edit leaves {rel} unchanged; nothing to apply")
            self._refuse_unwritable(path, rel)
            self._refuse_split_stage(rel)
            self._journal(PendingApply(rel, self._head_sha(), current))
            try:
                sha = self._write_and_commit(path, rel, new_text, instruction, meta)
            except BaseException as exc:
                self._roll_back(path, rel, current)
                clear_journal(self._state_dir)
                if isinstance(exc, OSError):
                    raise VcsError(f"cannot write {rel}: {exc.strerror or exc}; nothing applied") from exc
                raise
            # Committed: from here on the edit stands (a kill before the journal goes is finished later).
            self._clear_redo()
            clear_journal(self._state_dir)
            return sha

    def _write_and_commit(self, path: Path, rel: str, new_text: str, instruction: str, meta: EditMeta) -> str:
        self._save(rel)
        atomic_write_text(path, new_text)
        blob = self._git("hash-object", "--", rel).strip()
        return self._commit(rel, _edit_message(instruction, rel, meta, blob), [])

    # -- history ---------------------------------------------------------------------------------

    def undo(self) -> UndoResult:
        """Undo the last specedit edit on the current branch, or raise VcsError saying why not.

        An undo that a kill interrupted is finished first, and then counts as this undo.
        """
        with self._transaction("undo") as finished:
            if finished is not None and finished[0] == "undo":
                return finished[1]
            branch = self._branch("undo")
            if not branch.is_valid():
                raise VcsError("nothing to undo: the repository has no commits yet")
            head = branch.commit
            label = _label(head)
            if not _is_edit(head.message):
                raise VcsError(
                    f"the last commit {label} is not a specedit edit; specedit only undoes its own edits"
                )
            if len(head.parents) > 1:
                raise VcsError(f"the last commit {label} is a merge; undo it with git")
            if not head.parents:
                raise VcsError(
                    f"the last commit {label} is the repository's first commit; there is nothing before it"
                )
            self._refuse_pushed(branch, head)
            self._refuse_amended(head)
            ref = f"{_redo_prefix(branch.name)}/{len(self._redo_stack()) + 1:06d}"
            return self._move("undo", branch.name, head, head.parents[0], head, ref)

    def redo(self) -> RedoResult:
        """Re-apply the last undone edit of the current branch, or raise VcsError saying why not."""
        with self._transaction("redo") as finished:
            if finished is not None and finished[0] == "redo":
                return finished[1]
            branch = self._branch("redo")
            stack = self._redo_stack()
            if not stack:
                raise VcsError("nothing to redo")
            ref, sha = stack[-1]
            edit = self._repo.commit(sha)
            expected = edit.parents[0]
            if not branch.is_valid() or branch.commit != expected:
                now = _label(branch.commit) if branch.is_valid() else "no commit"
                raise VcsError(
                    f"cannot redo {_label(edit)}: {branch.name} moved since the undo "
                    f"(it is at {now}, the edit was made on {_label(expected)})"
                )
            return self._move("redo", branch.name, expected, edit, edit, ref)

    def log(self, limit: int = 50) -> list[HistoryEntry]:
        """The last ``limit`` specedit edits reachable from HEAD, newest first."""
        if limit <= 0 or not self._repo.head.is_valid():
            return []
        out = self._git(
            "log", f"--max-count={limit}", "-E", f"--grep=^{EDIT_TRAILER}: 1$",
            "--format=%H%x1f%ct%x1f%B%x1e", "HEAD", "--",
        )  # fmt: skip
        records = []
        for entry in out.split("\x1e"):
            if not entry.strip():
                continue
            sha, stamp, message = entry.strip("\n").split("\x1f", 2)
            if not _is_edit(message):
                continue  # the marker line was quoted in a message body, not a trailer
            time = datetime.fromtimestamp(int(stamp), tz=UTC).astimezone()
            meta = EditMeta.from_trailers(_trailers(message))
            records.append(HistoryEntry(sha, time, message.strip().splitlines()[0], meta))
        return records

    # -- transactions ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[tuple[str, HistoryStep] | None]:
        """Hold the repository lock, repair what a killed run left, refuse mid-rebase & co., then run.

        Yields what the repair finished, if it finished an undo or redo (so a retried undo does not
        undo twice).
        """
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(repo_lock(self._lock_dir, self.notify))
            except LockUnavailable as exc:
                raise VcsError(f"cannot lock the repository: {exc}") from None
            finished = self._recover()
            self._refuse_stopped_operation(action)
            yield finished

    def recover_interrupted_apply(self) -> None:
        """Put back a file whose apply a killed run left half done, unless another run holds the
        repository (that run repairs it itself). Run at open, so a TUI never shows a half-applied file.

        An interrupted undo or redo is left to the next undo, redo or edit: a retried ``specedit undo``
        must finish the interrupted undo, not undo one more edit.
        """
        try:
            with repo_lock(self._lock_dir, None, timeout=0):
                if isinstance(read_journal(self._state_dir), PendingApply):
                    self._recover()
        except (LockTimeout, LockUnavailable):
            return

    def _recover(self) -> tuple[str, HistoryStep] | None:
        """Inside the lock: a journal left behind belongs to a dead run. Undo or finish its work."""
        remove_stale_temps(self._state_dir / JOURNAL_NAME)  # a run killed while writing its journal
        pending = read_journal(self._state_dir)
        if pending is None:
            return None
        self._remove_dead_index_lock()
        if isinstance(pending, PendingApply):
            self._recover_apply(pending)
            clear_journal(self._state_dir)
            return None
        step = self._recover_move(pending)
        clear_journal(self._state_dir)
        return (pending.action, step) if step is not None else None

    def _recover_apply(self, pending: PendingApply) -> None:
        """The edit commit landed (keep it, as the run would have) or it did not (put the file back)."""
        path = self.root / pending.rel
        remove_stale_temps(path)
        head = self._head_sha()
        committed = (
            head is not None
            and head != pending.head
            and _is_edit(self._repo.commit(head).message)
            and self._status("diff", "--quiet", "HEAD", "--", pending.rel) == 0
        )
        if committed:
            self._sync_index(pending.rel)
            self._clear_redo()
            self.notify(f"finished the edit of {pending.rel} that an interrupted specedit run committed")
        else:
            self._roll_back(path, pending.rel, pending.old)
            self.notify(f"rolled back the interrupted specedit edit of {pending.rel}")

    def _recover_move(self, pending: PendingMove) -> HistoryStep | None:
        """Finish an undo/redo whose branch already moved; one that had not moved did nothing yet."""
        at = self._git("rev-parse", "--verify", "-q", f"refs/heads/{pending.branch}^{{commit}}").strip()
        if at != pending.target:
            if at != pending.source:
                self.notify(f"dropped an interrupted {pending.action}: {pending.branch} moved since")
            return None
        self._restore(pending.target, pending.rels)
        if pending.action == "undo":
            self._git("update-ref", pending.ref, pending.edit)
        else:
            self._git("update-ref", "-d", pending.ref)
        edit = self._repo.commit(pending.edit)
        self.notify(f"finished the interrupted {pending.action} of {_label(edit)}")
        files = tuple(self.root / rel for rel in pending.rels)
        return HistoryStep(edit.hexsha, pending.target, edit.summary, files)

    def _journal(self, pending: PendingApply | PendingMove) -> None:
        try:
            write_journal(self._state_dir, pending)
        except OSError as exc:
            raise VcsError(
                f"cannot write specedit's journal in {self._state_dir}: {exc.strerror or exc}"
            ) from None

    def _remove_dead_index_lock(self) -> None:
        """git's ``index.lock`` left by a git process killed with specedit (group kill).

        Only a lock at least as new as the dead run's journal is removed: an older one belongs to
        someone else's git, which is either still running or theirs to clean.
        """
        lock = Path(self._repo.git_dir) / "index.lock"
        try:
            if lock.stat().st_mtime >= (self._state_dir / JOURNAL_NAME).stat().st_mtime - 1:
                lock.unlink()
        except FileNotFoundError:
            return

    # -- refusals --------------------------------------------------------------------------------

    def _refuse_stopped_operation(self, action: str) -> None:
        git_dir = Path(self._repo.git_dir)
        for marker, what in _STOPPED_OPERATIONS:
            if (git_dir / marker).exists():
                raise VcsError(
                    f"cannot {action}: the repository is in the middle of {what}; "
                    "finish or abort it with git first"
                )

    def _refuse_unwritable(self, path: Path, rel: str) -> None:
        """The file's mode is the user's word (root may write anyway, specedit does not)."""
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and (not mode & stat.S_IWUSR or not os.access(path, os.W_OK)):
            raise VcsError(f"{rel} is read-only; make it writable (chmod u+w) to let specedit edit it")
        if not path.parent.is_dir():
            raise VcsError(f"cannot create {rel}: its folder does not exist")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise VcsError(
                f"cannot write {rel}: its folder is read-only (specedit writes a temporary file next to it)"
            )

    def _refuse_split_stage(self, rel: str) -> None:
        """``git commit --only`` commits the working copy: a different staged version would be lost."""
        for entry in self._status_entries([rel]):
            staged, unstaged = entry[0], entry[1]
            if staged not in " ?" and unstaged != " ":
                raise VcsError(
                    f"{rel} has staged changes and different unstaged ones; committing would lose the "
                    "staged version: commit or unstage it first"
                )

    def _refuse_pushed(self, branch: git.Head, head: git.Commit) -> None:
        """Pushed means on any remote-tracking ref, not just the branch's upstream (there may be none)."""
        label = _label(head)
        upstream = branch.tracking_branch()
        if upstream is not None and upstream.is_valid() and self._repo.is_ancestor(head, upstream.commit):
            raise VcsError(
                f"the last commit {label} is already on {upstream.name} (pushed); undo it with git revert"
            )
        out = self._git(
            "for-each-ref", "--contains", head.hexsha, "--format=%(refname:short)", "refs/remotes"
        )
        remotes = out.split()
        if remotes:
            raise VcsError(
                f"the last commit {label} is already on {remotes[0]} (pushed); undo it with git revert"
            )

    def _refuse_amended(self, head: git.Commit) -> None:
        """An edit commit holds exactly the one file specedit wrote, with the content it wrote."""
        label = _label(head)
        rels = self._changed(head.parents[0].hexsha, head.hexsha)
        if len(rels) != 1:
            raise VcsError(
                f"the last commit {label} holds more than specedit's edit ({', '.join(rels) or 'no file'}; "
                "amended?); undo it with git"
            )
        blob = _trailers(head.message).get(BLOB_TRAILER)
        if blob is not None and self._status("cat-file", "-e", f"{head.hexsha}:{rels[0]}") == 0:
            now = self._git("rev-parse", f"{head.hexsha}:{rels[0]}").strip()
            if now != blob:
                raise VcsError(
                    f"the last commit {label} was changed after specedit made it (amended?); undo it with git"
                )

    # -- helpers ---------------------------------------------------------------------------------

    def _target(self, file: Path) -> tuple[Path, str]:
        """The real path of ``file`` and its repository-relative name; refuses anything outside the scope."""
        try:
            path = contained_path(self.scope, Path(file))
            contained_path(self.root, path)
        except UnsafePathError as exc:
            raise VcsError(f"refusing to edit: {exc}") from None
        rel = path.relative_to(self.root)
        if ".git" in rel.parts:
            raise VcsError(f"refusing to edit {path}: it is inside git's own folder")
        if path.is_dir():
            raise VcsError(f"{path} is a folder, not a file")
        # check-ignore takes file names, yet refuses to run with literal pathspecs (exit 128).
        ignored = self._status("check-ignore", "-q", "--", rel.as_posix(), env={"GIT_LITERAL_PATHSPECS": "0"})
        if ignored == 0:
            raise VcsError(f"{rel} is ignored by git (.gitignore); specedit only edits files it can commit")
        if ignored != 1:
            raise VcsError(f"cannot tell whether git ignores {rel} (git check-ignore failed)")
        return path, rel.as_posix()

    def _status_entries(self, rels: list[str]) -> list[str]:
        """``git status --porcelain`` entries (``XY path``) of ``rels`` that differ anywhere."""
        out = self._git(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *rels
        )
        return [entry for entry in out.split("\0") if entry]

    def _dirty(self, rels: list[str]) -> list[str]:
        """Which of ``rels`` differ between HEAD, index and working tree (untracked files count)."""
        return [entry[3:] for entry in self._status_entries(rels)]

    def _save(self, rel: str) -> str | None:
        if not self._dirty([rel]):
            return None
        return self._commit(rel, f"specedit: save your changes to {rel} before edit", [(SAVE_TRAILER, "1")])

    def _commit(self, rel: str, message: str, trailers: list[tuple[str, str]]) -> str:
        if trailers:
            message += "\n\n" + "\n".join(f"{key}: {value}" for key, value in trailers)
        if not self._tracked(rel):
            self._git("add", "--", rel)
        self._git(
            "commit", "--quiet", "--no-verify", "--only", "-m", message, "--", rel, env=self._identity_env()
        )
        return self._repo.head.commit.hexsha

    def _roll_back(self, path: Path, rel: str, old: str | None) -> None:
        """Put the file back as it was before the apply, so disk and index agree with HEAD again."""
        if old is None:
            path.unlink(missing_ok=True)
        elif _read_or_none(path) != old:
            atomic_write_text(path, old)
        self._sync_index(rel)

    def _sync_index(self, rel: str) -> None:
        """Make ``rel``'s index entry HEAD's again (an interrupted add or commit may have changed it)."""
        if not any(entry[0] not in " ?" for entry in self._status_entries([rel])):
            return
        if self._head_sha() is not None and self._status("cat-file", "-e", f"HEAD:{rel}") == 0:
            self._git("restore", "--staged", "--", rel)
        else:
            self._git("rm", "--cached", "--quiet", "--ignore-unmatch", "--", rel)

    def _tracked(self, rel: str) -> bool:
        return bool(self._git("ls-files", "-z", "--", rel))

    def _head_sha(self) -> str | None:
        return self._repo.head.commit.hexsha if self._repo.head.is_valid() else None

    def _identity_env(self) -> dict[str, str]:
        """Fallback identity for each author/committer field that neither env nor any git config sets."""
        status, out, _ = self._repo.git.execute(
            ["git", "config", "--get-regexp", r"^(user|author|committer)\.(name|email)$"],
            with_extended_output=True,
            with_exceptions=False,
        )
        configured = {line.split(" ", 1)[0].lower() for line in out.splitlines()} if status == 0 else set()
        env = {}
        for role in ("author", "committer"):
            for field, fallback in (("name", FALLBACK_NAME), ("email", FALLBACK_EMAIL)):
                variable = f"GIT_{role.upper()}_{field.upper()}"
                if variable not in os.environ and not {f"user.{field}", f"{role}.{field}"} & configured:
                    env[variable] = fallback
        return env

    def _branch(self, action: str) -> git.Head:
        if self._repo.head.is_detached:
            raise VcsError(f"cannot {action}: HEAD is detached; check out a branch first")
        return self._repo.active_branch

    def _changed(self, source: str, target: str) -> list[str]:
        out = self._git("diff", "--name-only", "-z", "--no-renames", source, target, "--")
        return [name for name in out.split("\0") if name]

    def _move(
        self,
        action: Literal["undo", "redo"],
        branch: str,
        current: git.Commit,
        target: git.Commit,
        edit: git.Commit,
        ref: str,
    ) -> HistoryStep:
        """Move the branch from ``current`` to ``target``, restore the files that differ, then push
        (undo) or pop (redo) the redo-stack ``ref``.

        The ref moves first with a compare-and-swap (``update-ref NEW OLD``), so a concurrent commit makes
        this fail instead of being lost; the files follow, and a failure there moves the ref back. The
        journal lets the next run finish the step if this one is killed after the ref moved.
        """
        rels = self._changed(current.hexsha, target.hexsha)
        dirty = self._dirty(rels)
        if dirty:
            raise VcsError(
                f"cannot {action}: {', '.join(dirty)} has uncommitted changes; commit or discard them first"
            )
        pending = PendingMove(action, branch, current.hexsha, target.hexsha, edit.hexsha, tuple(rels), ref)
        self._journal(pending)
        try:
            self._git(
                "update-ref",
                "-m",
                f"specedit: {action} {_label(edit)}",
                "HEAD",
                target.hexsha,
                current.hexsha,
            )
        except VcsError:
            clear_journal(self._state_dir)
            raise
        try:
            self._restore(target.hexsha, rels)
        except VcsError:
            self._git("update-ref", "-m", f"specedit: failed {action}", "HEAD", current.hexsha, target.hexsha)
            clear_journal(self._state_dir)
            raise
        if action == "undo":
            self._git("update-ref", ref, edit.hexsha)
        else:
            self._git("update-ref", "-d", ref, edit.hexsha)
        clear_journal(self._state_dir)
        return HistoryStep(edit.hexsha, target.hexsha, edit.summary, tuple(self.root / rel for rel in rels))

    def _restore(self, source: str, rels: tuple[str, ...] | list[str]) -> None:
        """Index and working tree of ``rels`` as in ``source``; idempotent, so a finished half can rerun."""
        present = [rel for rel in rels if self._status("cat-file", "-e", f"{source}:{rel}") == 0]
        absent = [rel for rel in rels if rel not in present]
        if present:
            self._git("restore", f"--source={source}", "--staged", "--worktree", "--", *present)
        if absent:
            self._git("rm", "--cached", "--quiet", "--ignore-unmatch", "--", *absent)
            for rel in absent:
                (self.root / rel).unlink(missing_ok=True)

    def _redo_stack(self) -> list[tuple[str, str]]:
        """(ref, sha) of the current branch's undone edits, oldest first."""
        prefix = _redo_prefix(self._repo.active_branch.name)
        out = self._git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        entries = [line.split(" ") for line in out.splitlines()]
        return sorted((ref, sha) for ref, sha in entries if ref[len(prefix) + 1 :].isdigit())

    def _clear_redo(self) -> None:
        if self._repo.head.is_detached:
            return
        for ref, sha in self._redo_stack():
            self._git("update-ref", "-d", ref, sha)

    def _git(self, *args: str, env: dict[str, str] | None = None) -> str:
        status, out, err = self._repo.git.execute(
            ["git", *args],
            with_extended_output=True,
            with_exceptions=False,
            env=env,
            strip_newline_in_stdout=False,
        )
        if status != 0:
            raise VcsError(f"git {args[0]} failed: {err.strip() or out.strip()}")
        return out

    def _status(self, *args: str, env: dict[str, str] | None = None) -> int:
        status, _, _ = self._repo.git.execute(
            ["git", *args], with_extended_output=True, with_exceptions=False, env=env
        )
        return status


def _lexical_repository_root(folder: Path) -> Path | None:
    """The nearest folder holding ``.git`` along ``folder`` as written (symlinks not resolved)."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _tell_stderr(message: str) -> None:
    print(f"specedit: {message}", file=sys.stderr, flush=True)


def _edit_message(instruction: str, rel: str, meta: EditMeta, blob: str) -> str:
    lines = instruction.strip().splitlines()
    subject = lines[0].strip() if lines else f"specedit edit of {rel}"
    body = "\n".join(lines[1:]).strip()
    pairs = [(EDIT_TRAILER, "1"), *meta.trailers(), (BLOB_TRAILER, blob)]
    trailers = "\n".join(f"{key}: {value}" for key, value in pairs)
    return "\n\n".join(part for part in (subject, body) if part) + "\n\n" + trailers


def _trailers(message: str) -> dict[str, str]:
    """``Key: value`` lines of the message's last paragraph (where git puts trailers)."""
    paragraphs = message.strip().split("\n\n")
    if len(paragraphs) < 2:
        return {}
    pairs = (line.split(": ", 1) for line in paragraphs[-1].splitlines() if ": " in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _is_edit(message: str) -> bool:
    return _trailers(message).get(EDIT_TRAILER) == "1"


def _label(commit: git.Commit) -> str:
    return f"{commit.hexsha[:7]} ({commit.summary!r})"


def _redo_prefix(branch: str) -> str:
    return f"{REDO_NAMESPACE}/{branch}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _read_or_none(path: Path) -> str | None:
    try:
        return read_text(path)
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise VcsError(f"{path} is not UTF-8 text; specedit only edits text files") from None
