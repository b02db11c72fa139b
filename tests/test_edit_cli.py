"""``specedit edit`` end to end: a tiny model saved to disk (real model resolution and loading), and
scripted answers for what a real model does wrong (the regression tests of issue 13)."""

from __future__ import annotations

import itertools
import subprocess
from types import SimpleNamespace

import pytest

from app.cli import main
from tests.scripted_backend import ScriptedBackend
from vcs.repo import EditRepo

ORIGINAL = "def f():\n    return 1\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """The edit cache and tuning data of these tests must not touch the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture()
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "m.py").write_text(ORIGINAL)
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


@pytest.fixture()
def answers(monkeypatch):
    """Make ``specedit edit`` talk to a ScriptedBackend; returns a setter for its answers."""
    backend = ScriptedBackend([])

    def use(*scripted: str, budget: int | None = None, prefill: int = 0) -> ScriptedBackend:
        backend.answers[:] = scripted
        backend.budget = budget
        backend.prefill = prefill
        return backend

    monkeypatch.setattr("app.backends.make_backend", lambda *args, **kwargs: backend)
    return use


def commits(repo) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD"))


def scripted_edit(file, *extra, message="make f return 2"):
    return main(["edit", str(file), "-m", message, *extra])


@pytest.mark.parametrize(
    ("with_draft", "on_gpu", "expected"),
    [(False, False, "lookup"), (True, False, "lookup"), (False, True, "lookup"), (True, True, "multilayer")],
)
def test_auto_is_resolved_by_the_models_that_loaded(
    tiny_model_dir, monkeypatch, with_draft, on_gpu, expected
):
    """What a commit records comes from here: ``auto`` is multilayer only with a draft on a GPU target."""
    import torch

    import app.backends as backends
    from app.run_options import RunOptions

    if on_gpu:  # no GPU here: the models load on the CPU and then say they are on one
        real = backends.load_models_for

        def on_cuda(*args, **kwargs):
            models = real(*args, **kwargs)
            models.device = torch.device("cuda")
            return models

        monkeypatch.setattr(backends, "load_models_for", on_cuda)
    draft = str(tiny_model_dir) if with_draft else None
    options = RunOptions(model=str(tiny_model_dir), draft=draft, device="cpu", method="auto")
    assert backends.make_backend(options).method_and_engine() == (expected, "torch")


def test_tiny_model_answer_is_refused_not_written(tiny_model_dir, repo, capsys):
    """The real pipeline: 12 random-weight tokens are no closed file block, so nothing is applied."""
    assert edit(tiny_model_dir, repo / "m.py", "--yes") == 3
    err = capsys.readouterr().err
    assert "cut off at 12 tokens" in err or "no closed code block" in err
    assert (repo / "m.py").read_text() == ORIGINAL and commits(repo) == 1


def test_edit_prints_diff_and_writes_nothing_without_yes(answers, repo, capsys):
    answers("def f():\n    return 2\n```\n")
    assert scripted_edit(repo / "m.py") == 0
    out = capsys.readouterr()
    assert out.out.startswith("--- a/m.py") and "+    return 2" in out.out
    assert (repo / "m.py").read_text() == ORIGINAL and commits(repo) == 1


def test_reading_a_long_file_shows_progress_on_stderr_only(answers, repo, capsys, monkeypatch):
    """The minutes a CPU spends reading a long file before the first token are not silent."""
    answers("def f():\n    return 2\n```\n", prefill=4000)
    clock = itertools.count(step=2.0)  # every progress line is due (piped stderr: at most one a second)
    monkeypatch.setattr("app.progress.time", SimpleNamespace(monotonic=lambda: next(clock)))
    assert scripted_edit(repo / "m.py") == 0
    out = capsys.readouterr()
    err_lines = out.err.splitlines()
    assert "Reading the file… 50% of 4000 prompt tokens" in err_lines
    assert "Reading the file… 100% of 4000 prompt tokens" in err_lines
    assert "Reading" not in out.out and out.out.startswith("--- a/m.py")


def test_edit_with_yes_commits_the_proposal(answers, repo, capsys):
    answers("def f():\n    return 2\n```\n").ran = ("multilayer", "llama.cpp")
    assert scripted_edit(repo / "m.py", "--yes", "--method", "auto") == 0
    assert "applied and committed" in capsys.readouterr().err
    records = EditRepo.open(repo).log()
    assert [r.instruction for r in records] == ["make f return 2"]
    assert (records[0].meta.method, records[0].meta.engine) == ("multilayer", "llama.cpp")  # not "auto"
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)").splitlines()
    assert "Specedit-Method: multilayer" in trailers and "Specedit-Engine: llama.cpp" in trailers
    assert (repo / "m.py").read_text() == "def f():\n    return 2\n"
    assert git(repo, "status", "--porcelain") == ""


def test_applied_edit_feeds_cache_and_log(answers, repo, capsys):
    backend = answers("def f():\n    return 2\n```\n")
    assert scripted_edit(repo / "m.py", "--yes") == 0
    log_file = repo / ".git" / "specedit" / "edits.jsonl"
    assert log_file.is_file() and "make f return 2" in log_file.read_text()
    git(repo, "reset", "-q", "--hard", "HEAD~1")  # back to the original content
    capsys.readouterr()
    assert scripted_edit(repo / "m.py", "--yes") == 0
    assert "cached" in capsys.readouterr().err and len(backend.requests) == 1
    assert EditRepo.open(repo).log()[0].meta.method == "cached"  # no model ran for this commit
    assert (repo / "m.py").read_text() == "def f():\n    return 2\n"
    assert len(log_file.read_text().splitlines()) == 1  # a cache hit teaches the draft nothing new


# --- issue 13: what a real model does wrong never reaches the file ------------------------------------

FILE_48 = "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(12))


def test_budget_cut_answer_exits_3_and_writes_nothing(answers, repo, capsys):
    (repo / "big.py").write_text(FILE_48)
    git(repo, "add", "big.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "big")
    answers(FILE_48.replace("return 3", "return 30") + "```\n", budget=30)
    assert scripted_edit(repo / "big.py", "--yes", message="make f3 return 30") == 3
    captured = capsys.readouterr()
    assert "cut off at 30 tokens" in captured.err and "hint: raise --max-new-tokens" in captured.err
    assert captured.out == "" and (repo / "big.py").read_text() == FILE_48 and commits(repo) == 2


def test_prose_answer_is_refused_with_the_models_text(answers, repo, capsys):
    answers("I'm sorry, but I can't help with that.")
    assert scripted_edit(repo / "m.py", "--yes") == 3
    err = capsys.readouterr().err
    assert "no closed code block" in err and "I'm sorry, but I can't help with that." in err
    assert (repo / "m.py").read_text() == ORIGINAL and commits(repo) == 1


def test_chatter_before_the_block_is_not_written(answers, repo, capsys):
    answers("Here is the updated file:\n```python\ndef f():\n    return 2\n```\nDone!")
    assert scripted_edit(repo / "m.py", "--yes") == 0
    assert (repo / "m.py").read_text() == "def f():\n    return 2\n"


DOCSTRING_FILE = (
    'def f():\n    """Use it like this:\n\n        ```python\n'
    '        f()\n        ```\n    """\n    return 1\n'
)
MARKDOWN_FILE = "# Setup\n\n1. Install:\n\n   ```bash\n   pip install x\n   ```\n\n2. Run it.\n"


@pytest.mark.parametrize(
    ("name", "original", "old", "new"),
    [("d.py", DOCSTRING_FILE, "return 1", "return 2"), ("n.md", MARKDOWN_FILE, "Run it.", "Run it twice.")],
    ids=["python-docstring", "markdown-list"],
)
def test_indented_fence_in_the_file_keeps_the_whole_answer(answers, repo, capsys, name, original, old, new):
    (repo / name).write_text(original)
    git(repo, "add", name)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "add")
    answers(original.replace(old, new) + "````\n")  # the fence is longer than the file's own
    assert scripted_edit(repo / name, "--yes", message=f"change {old}") == 0
    assert (repo / name).read_text() == original.replace(old, new)


def test_crlf_file_answered_in_lf_changes_only_the_edited_line(answers, repo, capsys):
    crlf = "a = 1\r\nb = 2\r\nc = 3\r\n"
    (repo / "w.py").write_bytes(crlf.encode())
    git(repo, "-c", "core.autocrlf=false", "add", "w.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "crlf")
    answers("a = 1\nb = 20\nc = 3\n```\n")
    assert scripted_edit(repo / "w.py", "--yes", message="make b 20") == 0
    diff = capsys.readouterr().out
    changed = [
        line for line in diff.split("\n") if line.startswith(("+", "-")) and line[:3] not in ("+++", "---")
    ]
    assert changed == ["-b = 2\r", "+b = 20\r"]
    assert (repo / "w.py").read_bytes() == b"a = 1\r\nb = 20\r\nc = 3\r\n"


def test_terminal_escapes_in_model_text_are_printed_escaped(answers, repo, capsys):
    answers('def f():\n    return "\x1b]0;pwned\x07\x1b[2J"\n```\n')
    assert scripted_edit(repo / "m.py") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in out
    answers("\x1b[31mI refuse\x1b[0m")
    assert scripted_edit(repo / "m.py") == 3
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[31mI refuse" in err


def test_findings_refuse_yes_with_exit_3_unless_forced(answers, repo, capsys):
    answers("def f():\n    return undefined_name\n```\n")
    assert scripted_edit(repo / "m.py", "--yes") == 3
    err = capsys.readouterr().err
    assert "names: line 2: undefined name 'undefined_name'" in err and "--force" in err
    assert (repo / "m.py").read_text() == ORIGINAL and commits(repo) == 1
    assert scripted_edit(repo / "m.py", "--yes", "--force") == 0
    assert (repo / "m.py").read_text() == "def f():\n    return undefined_name\n" and commits(repo) == 2


def test_no_change_is_reported_and_yes_applies_nothing(answers, repo, capsys):
    answers(ORIGINAL + "```\n")
    assert scripted_edit(repo / "m.py") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no-change: the proposal is identical to the file" in captured.err
    assert scripted_edit(repo / "m.py", "--yes") == 3
    assert commits(repo) == 1


def test_check_command_runs_after_apply_with_the_file(answers, repo, capsys):
    answers("def f():\n    return 2\n```\n")
    check = 'grep -q "return 2" {file} && test "$SPECEDIT_FILE" = "$PWD/m.py" && echo checked'
    assert scripted_edit(repo / "m.py", "--yes", "--check", check) == 0
    err = capsys.readouterr().err
    assert "checked" in err and "check passed" in err and commits(repo) == 2


def test_failing_check_exits_3_and_undo_reverts(answers, repo, capsys):
    answers("def f():\n    return 2\n```\n")
    (repo / ".specedit.toml").write_text('check = "echo lint says no; exit 1"\n')
    git(repo, "add", ".specedit.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "config")
    assert scripted_edit(repo / "m.py", "--yes") == 3
    err = capsys.readouterr().err
    assert "lint says no" in err and "check failed (exit 1)" in err and "specedit undo" in err
    assert main(["undo", str(repo)]) == 0
    assert (repo / "m.py").read_text() == ORIGINAL


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
