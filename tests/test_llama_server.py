"""``--backend openai`` against a real llama.cpp server: the CLI, the TUI, cancel, crashes, errors.

The server is llama.cpp's own ``llama-server`` built by scripts/llama-server.sh from the pinned PyPI
sdist, serving the builtin model's GGUF (SmolLM2-135M Q4_1) greedily. What the model writes is not
the point (SmolLM2 edits poorly); the tests check that what the server streams is exactly what
reaches the review, the file and the commit, and that every failure ends cleanly with nothing applied.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.message import Message

from app.cli import main
from app.messages import LiveFrame, ProposalReady
from app.tui import SpeceditApp
from app.widgets.dialogs import ConfirmScreen
from decoding.backends.openai_compat import OpenAIBackend
from decoding.events import Done, Error
from decoding.request import EditRequest
from decoding.session import Proposal, propose_edit
from tests.llama_server import MODEL_NAME, LlamaServer, require_server
from tests.tui_support import INSTRUCTION, ORIGINAL, git, make_repo, model_args, settle, type_instruction

pytestmark = pytest.mark.slow

SIZE = (140, 40)
# Long enough that a whole-file answer streams for several seconds: room to cancel or kill mid-answer.
BUDGET = 600  # tokens: bounds a run whose cancel or kill failed
LONG_FILE = "".join(f"def f{n}(x):\n    return x + {n}\n\n\n" for n in range(60))


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_server()
    return tmp_path_factory.mktemp("llama-logs")


@pytest.fixture(scope="module")
def server(logs: Path) -> Iterator[LlamaServer]:
    with LlamaServer(logs) as running:
        yield running


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No edit cache answers for the server, no settings or keys from the user's environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("SPECEDIT_API_KEY", "OPENAI_API_KEY", "SPECEDIT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project")


def backend(url: str, **kwargs: object) -> OpenAIBackend:
    return OpenAIBackend(url, MODEL_NAME, **kwargs)  # type: ignore[arg-type]


def proposal_of(url: str, request: EditRequest) -> Proposal:
    """What the server proposes for this request, straight through the session (no CLI, no TUI)."""
    outputs = list(propose_edit(backend(url), request))
    assert isinstance(outputs[-1], Proposal), outputs[-1]
    return outputs[-1]


def cli_edit(url: str, file: Path, *extra: str) -> int:
    args = ["edit", str(file), "-m", INSTRUCTION, "--backend", "openai", "--base-url", url]
    return main([*args, "--model", MODEL_NAME, "--no-cache", *extra])


# -- the CLI -------------------------------------------------------------------------------------


def test_edit_yes_applies_and_commits_exactly_what_the_server_streamed(
    server: LlamaServer, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = proposal_of(server.url, EditRequest("calc.py", ORIGINAL, INSTRUCTION)).new_text
    assert expected != ORIGINAL, "the server proposed no change: the test would prove nothing"

    # --force: SmolLM2's edit trips the proposal check (it drops most of the file); applying it anyway
    # shows that what reaches the file is exactly the server's answer
    assert cli_edit(server.url, repo / "calc.py", "--yes", "--force") == 0

    err = capsys.readouterr().err
    assert "applied and committed" in err and f"{MODEL_NAME} via {server.url}" in err
    assert (repo / "calc.py").read_text() == expected
    assert git(repo, "log", "-1", "--format=%s").strip() == INSTRUCTION
    assert server.url not in git(repo, "log", "-1", "--format=%B")  # no server URLs in commits
    assert git(repo, "status", "--porcelain").strip() == ""


def test_edit_cut_by_the_budget_is_refused_and_nothing_applied(
    server: LlamaServer, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_edit(server.url, repo / "calc.py", "--yes", "--max-new-tokens", "5") == 3
    assert (repo / "calc.py").read_text() == ORIGINAL
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"
    assert "budget" in capsys.readouterr().err.lower()


# -- the TUI -------------------------------------------------------------------------------------


def tui_app(url: str, target: Path) -> SpeceditApp:
    """The app with its real backend factory, pointed at the server like `specedit --backend openai`."""
    options = model_args(backend="openai", base_url=url, model=MODEL_NAME, method="auto", no_cache=True)
    return SpeceditApp(target, options)


async def test_tui_streams_the_servers_answer_into_review_and_applies_it(
    server: LlamaServer, repo: Path
) -> None:
    expected = proposal_of(server.url, EditRequest("calc.py", ORIGINAL, INSTRUCTION)).new_text
    app = tui_app(server.url, repo / "calc.py")
    async with app.run_test(size=SIZE) as pilot:
        await type_instruction(app, pilot)
        await settle(app, pilot)
        assert app.main.proposal is not None and app.main.proposal.new_text == expected
        assert app.main.review is not None and app.main.review.hunks
        assert MODEL_NAME in str(app.main.query_one("#status").render())
        await pilot.press("A", "enter")
        await pilot.pause()
        if isinstance(app.screen, ConfirmScreen):  # SmolLM2's answer trips the proposal check
            await pilot.press("y")
        await settle(app, pilot)
    assert (repo / "calc.py").read_text() == expected
    assert git(repo, "log", "-1", "--format=%s").strip() == INSTRUCTION


async def test_tui_escape_cancels_mid_stream(server: LlamaServer, repo: Path) -> None:
    (repo / "calc.py").write_text(LONG_FILE)
    git(repo, "commit", "-qam", "long file")
    seen: list[Message] = []
    app = tui_app(server.url, repo / "calc.py")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await type_instruction(app, pilot, "rename every function to g")
        for _ in range(600):  # until the server's first tokens show (polling, not a timing claim)
            await pilot.pause(0.05)
            if any(isinstance(m, LiveFrame) for m in seen):
                break
        assert app.main.cancel_event is not None, "the answer ended before it could be cancelled"
        await pilot.press("escape")
        assert app.main.cancel_event is None and app.main.review is None
        await settle(app, pilot)
        assert "cancelled" in str(app.main.query_one("#notes").render())
        assert not any(isinstance(m, ProposalReady) for m in seen)
    assert (repo / "calc.py").read_text() == LONG_FILE


# -- the backend on a real server: cancel, crash, errors -----------------------------------------


def after(seconds: float, action: Callable[[], object]) -> threading.Timer:
    """Run ``action`` while the server is mid-answer (an event-driven trigger would wait for text
    that the backend may still hold back while it looks for the opening fence)."""
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_cancel_mid_stream_ends_at_once_and_the_server_serves_the_next_edit(server: LlamaServer) -> None:
    request = EditRequest("long.py", LONG_FILE, "rename every function to g")
    cancel = threading.Event()
    moments: list[float] = []
    after(1.5, lambda: (moments.append(time.monotonic()), cancel.set()))
    events = list(backend(server.url, max_tokens=BUDGET).stream(request, cancel))
    assert moments, "the answer ended before it could be cancelled"
    done = events[-1]
    assert isinstance(done, Done) and done.cancelled and done.stop_reason == "cancelled"
    assert time.monotonic() - moments[0] < 5, "cancel must not wait for the rest of the answer"
    # llama.cpp dropped the abandoned request: the next one is answered in full
    follow = list(backend(server.url, max_tokens=20).stream(EditRequest("calc.py", ORIGINAL, INSTRUCTION)))
    assert isinstance(follow[-1], Done) and not follow[-1].cancelled and follow[-1].stats.new_tokens == 20


def test_server_killed_mid_stream_is_a_network_error(logs: Path) -> None:
    request = EditRequest("long.py", LONG_FILE, "rename every function to g")
    with LlamaServer(logs) as doomed:
        killer = after(1.5, doomed.kill)
        events = list(backend(doomed.url, timeout=30, max_tokens=BUDGET).stream(request))
        killer.join()
    error = events[-1]
    assert isinstance(error, Error) and error.kind == "network", error
    assert "closed the connection" in error.message or "closed the stream" in error.message


def test_predicted_outputs_are_ignored_by_llama_cpp_and_not_shown(server: LlamaServer) -> None:
    """llama.cpp accepts the ``prediction`` field silently: no retry, no prediction counts to show."""
    source = backend(server.url)
    events = list(source.stream(EditRequest("calc.py", ORIGINAL, INSTRUCTION)))
    done = events[-1]
    assert isinstance(done, Done) and done.text
    assert done.stats.remote_accepted_prediction_tokens is None
    assert done.stats.remote_rejected_prediction_tokens is None
    assert "predicted outputs" in source.describe()  # not refused, so still sent


def test_no_server_listening_is_a_clear_network_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.llama_server import free_port

    assert cli_edit(f"http://127.0.0.1:{free_port()}/v1", repo / "calc.py", "--yes") == 5
    assert "connection refused" in capsys.readouterr().err
    assert (repo / "calc.py").read_text() == ORIGINAL


def test_wrong_base_url_path_is_a_404_with_a_hint(server: LlamaServer) -> None:
    events = list(
        backend(server.url.removesuffix("/v1") + "/v2").stream(EditRequest("calc.py", ORIGINAL, "x"))
    )
    error = events[-1]
    assert isinstance(error, Error) and error.kind == "server" and "404" in error.message
    assert "--base-url" in error.message


def test_api_key_missing_or_wrong_is_an_auth_error(logs: Path) -> None:
    request = EditRequest("calc.py", ORIGINAL, INSTRUCTION)
    with LlamaServer(logs, api_key="sesame") as guarded:
        missing = list(backend(guarded.url).stream(request))[-1]
        wrong = list(backend(guarded.url, api_key="open").stream(request))[-1]
        right = list(backend(guarded.url, api_key="sesame").stream(request))[-1]
    assert isinstance(missing, Error) and missing.kind == "auth" and "needs an API key" in missing.message
    assert isinstance(wrong, Error) and wrong.kind == "auth" and "was refused" in wrong.message
    assert isinstance(right, Done) and right.text


def test_prompt_longer_than_the_context_is_the_servers_error(
    logs: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "calc.py").write_text(LONG_FILE)
    git(repo, "commit", "-qam", "long file")
    with LlamaServer(logs, ctx=256) as small:
        code = cli_edit(small.url, repo / "calc.py", "--yes")
    assert code == 5
    assert "context" in capsys.readouterr().err.lower()
    assert (repo / "calc.py").read_text() == LONG_FILE


@pytest.mark.parametrize("speculation", [["--ngram"], ["--draft", "smollm2"]], ids=["ngram", "draft"])
def test_speculating_server_speculates_and_keeps_the_greedy_answer(
    server: LlamaServer, logs: Path, speculation: list[str]
) -> None:
    """The script's speculation flags reach llama.cpp (it once loaded a draft and never used it)."""
    request = EditRequest("calc.py", ORIGINAL, INSTRUCTION)
    plain = list(backend(server.url, max_tokens=40).stream(request))[-1]
    with LlamaServer(logs, *speculation) as fast:
        with urllib.request.urlopen(f"http://127.0.0.1:{fast.port}/slots", timeout=10) as response:
            slots = json.loads(response.read())
        answer = list(backend(fast.url, max_tokens=40).stream(request))[-1]
    assert all(slot["speculative"] for slot in slots)
    assert isinstance(plain, Done) and isinstance(answer, Done) and answer.text == plain.text
