"""The context check: a prompt plus the smallest useful answer must fit the model's window.

The models are tiny seeded ones whose config declares a small window (1,200 tokens), so a file of a few
hundred bytes (one token per byte) is "too long" without any real long input.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from common.errors import ExitCode
from decoding.backends.local import LocalBackend
from decoding.context import ANSWER_MARGIN, ContextTooLong, answer_floor, context_window, fit_budget
from decoding.engine.config import SpecConfig
from decoding.events import Done, Error
from decoding.models.load import LoadedModels
from decoding.request import EditRequest
from tests.tiny_models import make_byte_tokenizer, make_tiny_llama

WINDOW = 1200
LONG = "x = 1\n" * 70  # too long for a whole-file answer in WINDOW, short enough for a lazy one


@pytest.fixture(scope="module")
def small_window_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small-window")
    model = make_tiny_llama(seed=2, num_layers=1)
    model.config.max_position_embeddings = WINDOW
    model.save_pretrained(path)
    make_byte_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def backend(small_window_dir: Path) -> LocalBackend:
    from decoding.models.load import load_models

    models: LoadedModels = load_models(str(small_window_dir), device="cpu")
    return LocalBackend(models, SpecConfig(method="regular"))


def test_budget_is_clipped_to_what_the_window_leaves() -> None:
    assert fit_budget(prompt_tokens=100, budget=1000, needed=50, window=256, what="f") == 156
    assert fit_budget(prompt_tokens=100, budget=20, needed=50, window=256, what="f") == 20
    assert fit_budget(prompt_tokens=10**6, budget=7, needed=10**6, window=None, what="f") == 7


def test_too_long_says_the_numbers_and_what_to_do() -> None:
    with pytest.raises(ContextTooLong) as err:
        fit_budget(prompt_tokens=25_013, budget=50_282, needed=25_077, window=8_192, what="`big.py`")
    message, hint = err.value.message, err.value.hint or ""
    assert "`big.py`" in message and "25,013" in message and "25,077" in message and "8,192" in message
    assert "50,090" in message  # prompt + needed, the number that has to fit
    assert "FILE:START-END" in hint and "--symbol" in hint and "--format lazy" in hint and "longer" in hint
    assert err.value.exit_code == ExitCode.MODEL


def test_whole_file_answers_need_the_file_lazy_ones_do_not() -> None:
    assert answer_floor(1000, whole_file=True) == 1000 + ANSWER_MARGIN
    assert answer_floor(1000, whole_file=False) == ANSWER_MARGIN


def test_window_comes_from_the_config_or_the_llamacpp_context(backend: LocalBackend) -> None:
    assert context_window(backend.models.target) == WINDOW

    class LlamaCppLike:
        context = 4096

    assert context_window(LlamaCppLike()) == 4096
    assert context_window(object()) is None


def test_long_file_is_an_error_before_any_forward(backend: LocalBackend, monkeypatch) -> None:
    monkeypatch.setattr(backend, "generate", lambda *a, **k: pytest.fail("generated anyway"))
    request = EditRequest(path="big.py", original=LONG, instruction="rename x")
    (event,) = list(backend.stream(request))
    assert isinstance(event, Error) and event.kind == "context"
    assert f"window is {WINDOW:,} tokens" in event.message and "`big.py`" in event.message
    assert "FILE:START-END" in event.message
    assert event.as_exception().exit_code == ExitCode.MODEL


def test_lazy_request_for_the_same_file_fits_and_is_capped(backend: LocalBackend) -> None:
    """The lazy format needs only a short answer: it runs, with the budget the window leaves."""
    request = EditRequest(path="big.py", original=LONG, instruction="rename x", format="lazy")
    prompt_ids, _ = backend.encode(request)
    events = list(backend.stream(request))
    done = events[-1]
    assert isinstance(done, Done), events[-1]
    assert prompt_ids and len(prompt_ids) + ANSWER_MARGIN <= WINDOW
    if done.stop_reason == "max_new_tokens":
        assert len(done.token_ids) == WINDOW - len(prompt_ids)
    else:
        assert len(done.token_ids) <= WINDOW - len(prompt_ids)


def test_cli_exits_5_with_the_message(small_window_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    big = tmp_path / "big.py"
    big.write_text("value = compute(1)\n" * 30)
    code = main(["edit", str(big), "-m", "rename value", "--model", str(small_window_dir), "--device", "cpu"])
    assert code == ExitCode.MODEL
    err = capsys.readouterr().err
    assert "does not fit the model's context" in err and f"{WINDOW:,}" in err
    assert big.read_text() == "value = compute(1)\n" * 30
