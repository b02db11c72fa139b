"""RunOptions: one typed options model; precedence default < user file < repo file < environment < flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.cli import build_parser, main
from app.config_file import find_repo_config, read_config
from app.run_options import RunOptions, options_from_args, resolve
from common.errors import UsageError
from decoding.engine.config import METHODS, resolve_method


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean user config folder and no SPECEDIT_* environment, so only the test's files count."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("SPECEDIT_BASE_URL", "SPECEDIT_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def user_file(home: Path, text: str) -> Path:
    path = home / "config" / "specedit" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def repo(home: Path, text: str | None = None) -> Path:
    root = home / "repo"
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    if text is not None:
        (root / ".specedit.toml").write_text(text)
    return root


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_no_files_no_flags_gives_the_dataclass_defaults_for_every_command(home: Path) -> None:
    """The old bug: each command read a Namespace with getattr defaults of its own (format, method)."""
    for argv in (["open", "."], ["edit", "f.py", "-m", "x"], ["config"]):
        assert options_from_args(parse(*argv), home) == RunOptions()
    assert RunOptions().format == "whole" and RunOptions().method == "auto" and not RunOptions().no_cache


def test_precedence_default_user_repo_environment_flag(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_file(home, 'model = "user-model"\nmethod = "lookup"\nformat = "lazy"\ntheme = "specedit-light"\n')
    root = repo(home, 'model = "repo-model"\nmethod = "draft"\nbase-url = "http://repo:1/v1"\n')
    monkeypatch.setenv("SPECEDIT_BASE_URL", "http://env:2/v1")
    resolved = resolve(vars(parse("edit", "f.py", "-m", "x", "--method", "regular")), root / "src" / "f.py")
    o = resolved.options
    assert (o.model, o.method, o.format, o.theme, o.base_url, o.device) == (
        "repo-model",
        "regular",
        "lazy",
        "specedit-light",
        "http://env:2/v1",
        "auto",
    )
    expected = {
        "model": "repo file",
        "method": "flag",
        "format": "user file",
        "theme": "user file",
        "base_url": "environment",
        "device": "default",
    }
    assert {name: resolved.origins[name] for name in expected} == expected
    assert resolved.repo_file == root / ".specedit.toml"


def test_boolean_flags_and_files(home: Path) -> None:
    root = repo(home, "load-in-4bit = true\n")
    edit = ("edit", "f.py", "-m", "x")
    assert options_from_args(parse(*edit), root).load_in_4bit is True
    assert options_from_args(parse(*edit, "--no-load-in-4bit"), root).load_in_4bit is False
    assert options_from_args(parse(*edit, "--no-cache"), root).no_cache is True


def test_repo_file_search_stops_at_the_repository_root(home: Path) -> None:
    (home / ".specedit.toml").write_text('model = "outside"\n')  # above the repository: never applies
    root = repo(home)
    assert find_repo_config(root / "src" / "f.py") is None
    (root / ".specedit.toml").write_text('model = "root"\n')
    assert find_repo_config(root / "src") == root / ".specedit.toml"
    (root / "src" / ".specedit.toml").write_text('model = "nested"\n')
    assert find_repo_config(root / "src" / "f.py") == root / "src" / ".specedit.toml"


def test_outside_a_repository_only_the_folder_itself_counts(home: Path) -> None:
    (home / ".specedit.toml").write_text('model = "parent"\n')
    loose = home / "loose"
    loose.mkdir()
    assert find_repo_config(loose / "x.py") is None
    (loose / ".specedit.toml").write_text('model = "here"\n')
    assert find_repo_config(loose / "x.py") == loose / ".specedit.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model = \n", "not valid TOML"),
        ('modle = "x"\n', "unknown setting 'modle'"),
        ('method = "fastest"\n', "is not one of"),
        ('format = "diff"\n', "is not one of"),
        ('engine = "gpu"\n', "is not one of"),
        ('load-in-4bit = "yes"\n', "must be a bool"),
        ("max-new-tokens = true\n", "must be a int"),
        ("max-new-tokens = 0\n", "must be positive"),
        ('api-key = "sk-secret"\n', "unknown setting"),  # secrets never come from files
        ("[model]\nname = 'x'\n", "must be a str"),
    ],
)
def test_bad_files_are_usage_errors_naming_the_file(home: Path, text: str, message: str) -> None:
    path = home / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        read_config(path)
    assert str(path) in caught.value.message
    assert caught.value.exit_code == 2


def test_bad_repo_file_stops_every_command_with_exit_2(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = repo(home, "model = [\n")
    (root / "src" / "f.py").write_text("x = 1\n")
    assert main(["edit", str(root / "src" / "f.py"), "-m", "x"]) == 2
    assert main(["config", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("is not valid TOML") == 2 and "hint: fix or delete" in err


def test_config_command_shows_values_and_origins(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user_file(home, 'theme = "specedit-light"\n')
    root = repo(home, 'model = "qwen-coder-1.5b"\ncheck = "ruff check ."\n')
    monkeypatch.setenv("SPECEDIT_API_KEY", "sk-very-secret")
    assert main(["config", str(root), "--format", "lazy"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[3:] if line.strip()}
    assert rows["model"].split()[1:] == ["qwen-coder-1.5b", "repo", "file"]
    assert rows["check"].endswith("repo file") and "ruff check ." in rows["check"]
    assert rows["theme"].split()[1:] == ["specedit-light", "user", "file"]
    assert rows["format"].split()[1:] == ["lazy", "flag"]
    assert rows["method"].split()[1:] == ["auto", "default"]
    assert rows["api_key"].split()[1:] == ["(set)", "environment"]
    assert "sk-very-secret" not in out
    assert f"repo file: {root / '.specedit.toml'}" in out


def test_format_is_declared_once_and_tune_shares_the_model_options() -> None:
    parser = build_parser()
    tune = parser.parse_args(["tune", "--load-in-4bit", "--model", "m", "--draft", "d", "--dtype", "float32"])
    assert (tune.load_in_4bit, tune.model, tune.draft, tune.dtype) == (True, "m", "d", "float32")
    for argv in (["open"], ["edit", "f", "-m", "x"], ["config"]):
        assert parser.parse_args([*argv, "--format", "lazy"]).format == "lazy"
    with pytest.raises(SystemExit):
        parser.parse_args(["tune", "--format", "lazy"])  # tune asks for no edits


def test_open_hands_the_tui_typed_options(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    class FakeApp:
        def __init__(self, path: Path, options: object) -> None:
            seen.append(options)

        def run(self) -> None:
            pass

    monkeypatch.setattr("app.tui.SpeceditApp", FakeApp)
    root = repo(home, 'format = "auto"\n')
    assert main(["open", str(root), "--method", "lookup"]) == 0
    assert seen == [RunOptions(format="auto", method="lookup")]


@pytest.mark.parametrize("method", METHODS)
def test_explicit_methods_are_kept(method: str) -> None:
    assert resolve_method(method, has_draft=False) == method
    assert resolve_method(method, has_draft=True) == method


def test_auto_method_is_multilayer_only_with_a_draft_on_a_gpu() -> None:
    assert resolve_method("auto", has_draft=True, on_gpu=True) == "multilayer"
    assert resolve_method("auto", has_draft=False, on_gpu=True) == "lookup"
    # On a CPU (llama.cpp or torch) the draft's forwards do not pay: lookup was measured faster.
    assert resolve_method("auto", has_draft=True) == "lookup"
    with pytest.raises(ValueError, match="unknown method"):
        resolve_method("fastest", has_draft=True)
