"""Git history of specedit edits: one commit per applied edit, undo/redo that never loses user work.

Rules (aider's undo rules are the reference):

* Every applied edit is one commit; its message is the instruction's first line, the rest of the
  instruction as body, and ``Specedit-*`` trailers (model, method, speed). ``Specedit-Edit: 1`` marks the
  commit as specedit's, which survives restarts, clones and rebases, unlike an in-memory list of hashes.
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

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

from common.atomic import UnsafePathError, atomic_write_text, contained_path, read_text
from common.errors import Refused

EDIT_TRAILER = "Specedit-Edit"
SAVE_TRAILER = "Specedit-Save"
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

    def trailers(self) -> list[tuple[str, str]]:
        values = {
            "Specedit-Model": _one_line(model_label(self.model)),
            "Specedit-Method": _one_line(self.method),
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
        )


@dataclass(frozen=True)
class EditRecord:
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
    """The git repository holding an opened file or folder; edits are confined to that file or folder."""

    def __init__(self, repo: git.Repo, scope: Path) -> None:
        if repo.bare or repo.working_tree_dir is None:
            raise VcsError(f"{repo.git_dir} is a bare repository; specedit needs a working tree")
        self._repo = repo
        self.root = Path(repo.working_tree_dir).resolve()
        self.scope = scope
        # Paths are file names, never glob patterns or ':(magic)' pathspecs.
        repo.git.update_environment(GIT_LITERAL_PATHSPECS="1", GIT_TERMINAL_PROMPT="0")

    @classmethod
    def open(cls, path: Path, init: bool = False) -> EditRepo:
        """The repository containing ``path``; with ``init`` a folder outside any repository is git-inited."""
        path = Path(path)
        if not path.exists():
            raise VcsError(f"no such file or folder: {path}")
        folder = path if path.is_dir() else path.parent
        try:
            repo = git.Repo(folder, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            if not init:
                raise VcsError(
                    f"{folder} is not inside a git repository; run `git init` there or pass --init"
                ) from None
            repo = git.Repo.init(folder)
        edit_repo = cls(repo, path.resolve())
        try:
            contained_path(edit_repo.root, path)
        except UnsafePathError as exc:
            raise VcsError(str(exc)) from None
        return edit_repo

    def close(self) -> None:
        """Stop GitPython's helper processes (they otherwise live until garbage collection)."""
        self._repo.close()

    def __enter__(self) -> EditRepo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- edits -----------------------------------------------------------------------------------

    def ensure_clean_file(self, file: Path) -> str | None:
        """Commit the user's uncommitted changes to ``file`` (untracked, staged or not) in their own
        commit so an edit and its undo can never lose them; the new commit's sha, or None if clean."""
        _, rel = self._target(file)
        if not self._dirty([rel]):
            return None
        return self._commit(rel, f"specedit: save your changes to {rel} before edit", [(SAVE_TRAILER, "1")])

    def apply_edit(
        self, file: Path, new_text: str, expected_old: str, *, instruction: str, meta: EditMeta
    ) -> str:
        """Write ``new_text`` atomically and commit it as one specedit edit; the commit's sha.

        ``expected_old`` is the exact text the proposal was computed from (see ``common.atomic.read_text``);
        if the file no longer holds it, the edit is refused rather than overwriting newer work. A file
        that does not exist may be created when ``expected_old`` is empty.
        """
        path, rel = self._target(file)
        current = _read_or_none(path)
        if (current or "") != expected_old:
            raise VcsError(f"{rel} changed on disk since it was read; reload it and ask again")
        if new_text == current:
            raise VcsError(f"the edit leaves {rel} unchanged; nothing to apply")
        self.ensure_clean_file(path)
        atomic_write_text(path, new_text)
        try:
            sha = self._commit(rel, _edit_message(instruction, rel, meta), [])
        except VcsError:
            self._roll_back(path, rel, current)
            raise
        self._clear_redo()
        return sha

    # -- history ---------------------------------------------------------------------------------

    def undo(self) -> UndoResult:
        """Undo the last specedit edit on the current branch, or raise VcsError saying why not."""
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
        upstream = branch.tracking_branch()
        if upstream is not None and upstream.is_valid() and self._repo.is_ancestor(head, upstream.commit):
            raise VcsError(
                f"the last commit {label} is already on {upstream.name} (pushed); undo it with git revert"
            )
        parent = head.parents[0]
        files = self._move(head, parent, f"undo {label}")
        self._git("update-ref", f"{_redo_prefix(branch.name)}/{len(self._redo_stack()) + 1:06d}", head.hexsha)
        return HistoryStep(head.hexsha, parent.hexsha, head.summary, files)

    def redo(self) -> RedoResult:
        """Re-apply the last undone edit of the current branch, or raise VcsError saying why not."""
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
        files = self._move(expected, edit, f"redo {_label(edit)}")
        self._git("update-ref", "-d", ref, sha)
        return HistoryStep(edit.hexsha, edit.hexsha, edit.summary, files)

    def log(self, limit: int = 50) -> list[EditRecord]:
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
            records.append(EditRecord(sha, time, message.strip().splitlines()[0], meta))
        return records

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
        if self._status("check-ignore", "-q", "--", rel.as_posix()) == 0:
            raise VcsError(f"{rel} is ignored by git (.gitignore); specedit only edits files it can commit")
        return path, rel.as_posix()

    def _dirty(self, rels: list[str]) -> list[str]:
        """Which of ``rels`` differ between HEAD, index and working tree (untracked files count)."""
        out = self._git(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *rels
        )
        return [entry[3:] for entry in out.split("\0") if entry]

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
        """Put the file back as it was after a failed commit, so disk and index agree with HEAD again."""
        if old is None:
            path.unlink(missing_ok=True)
            self._git("rm", "--cached", "--quiet", "--ignore-unmatch", "--", rel)
        else:
            atomic_write_text(path, old)

    def _tracked(self, rel: str) -> bool:
        return bool(self._git("ls-files", "-z", "--", rel))

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

    def _move(self, current: git.Commit, target: git.Commit, action: str) -> tuple[Path, ...]:
        """Move the branch from ``current`` to ``target`` and restore the files that differ between them.

        The ref moves first with a compare-and-swap (``update-ref NEW OLD``), so a concurrent commit makes
        this fail instead of being lost; the files follow, and a failure there moves the ref back.
        """
        out = self._git("diff", "--name-only", "-z", "--no-renames", current.hexsha, target.hexsha, "--")
        rels = [name for name in out.split("\0") if name]
        dirty = self._dirty(rels)
        if dirty:
            raise VcsError(
                f"cannot {action}: {', '.join(dirty)} has uncommitted changes; commit or discard them first"
            )
        self._git("update-ref", "-m", f"specedit: {action}", "HEAD", target.hexsha, current.hexsha)
        if rels:
            try:
                self._git("restore", f"--source={target.hexsha}", "--staged", "--worktree", "--", *rels)
            except VcsError:
                self._git(
                    "update-ref", "-m", f"specedit: failed {action}", "HEAD", current.hexsha, target.hexsha
                )
                raise
        return tuple(self.root / rel for rel in rels)

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

    def _status(self, *args: str) -> int:
        status, _, _ = self._repo.git.execute(
            ["git", *args], with_extended_output=True, with_exceptions=False
        )
        return status


def _edit_message(instruction: str, rel: str, meta: EditMeta) -> str:
    lines = instruction.strip().splitlines()
    subject = lines[0].strip() if lines else f"specedit edit of {rel}"
    body = "\n".join(lines[1:]).strip()
    trailers = "\n".join(f"{key}: {value}" for key, value in [(EDIT_TRAILER, "1"), *meta.trailers()])
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
