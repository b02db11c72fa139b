"""One exit-code table: every command exits with the same code for the same kind of failure."""

from __future__ import annotations

import importlib
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import COMMANDS, main
from app.files import FileRefused
from common.atomic import UnsafePathError
from common.errors import EXIT_CODES, ExitCode, SpeceditError, UsageError
from decoding.events import Error
from decoding.lazy.blocks import MergeRefused
from decoding.models.store import FetchError, ModelError
from tests.processes import default_sigint
from vcs.repo import VcsError


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code, meaning in EXIT_CODES.items():
        assert f"  {int(code):<4} {meaning.split(' (')[0]}" in out


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ModelError("no such model"), 5),
        (FetchError("offline"), 5),
        (VcsError("dirty"), 4),
        (FileRefused("binary"), 4),
        (UnsafePathError("outside"), 4),
        (MergeRefused("ambiguous"), 3),
        (UsageError("bad flag"), 2),
        (Error("lazy merge refused", kind="merge").as_exception(), 3),
        (Error("connection refused", kind="network").as_exception(), 5),
    ],
)
def test_each_failure_kind_has_its_code(error: SpeceditError, code: int) -> None:
    assert error.exit_code == code
    assert str(error) == error.message  # the TUI shows str(error)


def test_unsafe_path_is_still_a_value_error() -> None:
    """Callers that predate the error base catch ValueError; they must keep working."""
    assert isinstance(UnsafePathError("x"), ValueError)


def _raising(monkeypatch: pytest.MonkeyPatch, command: str, exc: BaseException) -> None:
    module = importlib.import_module(f"app.commands.{command}")

    def run(_args: object) -> int:
        raise exc

    monkeypatch.setattr(module, "run", run)


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_prints_message_and_hint_and_exits_with_the_code(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _raising(monkeypatch, command, VcsError("the file changed on disk", hint="reload it"))
    argv = {
        "edit": ["edit", "f.py", "-m", "x"],
        "bench": ["bench", "--dataset", "d.jsonl"],
        "merge": ["merge", "a.py", "b.py"],
    }
    assert main(argv.get(command, [command])) == ExitCode.REFUSED
    assert capsys.readouterr().err == "error: the file changed on disk\nhint: reload it\n"


def test_ctrl_c_exits_130_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _raising(monkeypatch, "log", KeyboardInterrupt())
    assert main(["log"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_internal_errors_are_not_disguised(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug must surface with its traceback (exit 1 from Python), not as a tidy user error."""
    _raising(monkeypatch, "log", RuntimeError("bug"))
    with pytest.raises(RuntimeError):
        main(["log"])


def test_same_failure_same_code_across_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Real commands, no mocks: bad input exits 2 and a folder outside git exits 4 wherever they occur."""
    missing = tmp_path / "missing.py"
    assert main(["open", str(missing)]) == ExitCode.USAGE
    assert main(["edit", str(missing), "-m", "x"]) == ExitCode.USAGE
    assert main(["bench", "--dataset", str(tmp_path / "none.jsonl")]) == ExitCode.USAGE
    assert main(["tune", "--log", str(tmp_path / "empty.jsonl")]) == ExitCode.USAGE
    for command in ("undo", "redo", "log"):
        assert main([command, str(tmp_path)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert all(line.startswith(("error: ", "hint: ")) for line in err.splitlines())


def test_openai_backend_without_url_is_a_usage_error_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SPECEDIT_BASE_URL", raising=False)
    source = tmp_path / "f.py"
    source.write_text("x = 1\n")
    assert main(["edit", str(source), "-m", "x", "--backend", "openai"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "--base-url" in err and "hint: " in err


def test_a_real_ctrl_c_exits_130_without_traceback(tmp_path: Path) -> None:
    """SIGINT while the CLI waits on a server that never answers: the process, not a mock, exits 130."""
    source = tmp_path / "f.py"
    source.write_text("x = 1\n")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(30)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        argv = ["edit", str(source), "-m", "x", "--backend", "openai", "--base-url", url, "--model", "m"]
        command = [sys.executable, "-m", "app.cli", *argv]
        process = subprocess.Popen(
            command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint
        )
        try:
            connection, _ = server.accept()  # the client now waits for an answer that never comes
            with connection:
                process.send_signal(signal.SIGINT)
                _, err = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
