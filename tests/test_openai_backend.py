"""OpenAIBackend against a real OpenAI-compatible server on 127.0.0.1 (see tests/openai_server.py)."""

from __future__ import annotations

import argparse
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from app.backends import make_backend
from app.options import add_model_options
from app.run_options import options_from_args
from decoding.backends import openai_compat
from decoding.backends.openai_compat import OpenAIBackend
from decoding.backends.sse import SSEEvent, SSELineTooLong, iter_sse, read_lines
from decoding.events import Done, Error, Event, Span, Stats
from decoding.request import EditRequest
from decoding.session import Proposal, propose_edit
from tests.openai_server import ChatServer
from tests.tiny_models import make_byte_tokenizer, tiny_config

ORIGINAL = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


FENCE = "```python\n"  # how a chat model opens its answer when the server cannot pre-fill it


@pytest.fixture(scope="module")
def tiny() -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Untied embeddings: a tied random model just repeats the prompt's last token ("\n")."""
    torch.set_num_threads(1)
    tokenizer = make_byte_tokenizer()
    config = tiny_config(len(tokenizer), num_layers=2, eos_token_id=tokenizer.eos_token_id)
    config.tie_word_embeddings = False
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), tokenizer


@pytest.fixture
def server(tiny) -> Iterator[ChatServer]:
    model, tokenizer = tiny
    with ChatServer(model, tokenizer) as chat:
        yield chat


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The file being edited, in the working directory; the test ends by checking nothing changed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPECEDIT_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / "calc.py").write_text(ORIGINAL)
    before = _snapshot(tmp_path)
    yield tmp_path
    assert _snapshot(tmp_path) == before, "the backend must never write a file"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


REQUEST = EditRequest("calc.py", ORIGINAL, "add type hints")


def backend_for(chat: ChatServer, **kwargs: object) -> OpenAIBackend:
    return OpenAIBackend(chat.url, chat.name, **kwargs)  # type: ignore[arg-type]


def collect(backend: OpenAIBackend, cancel: threading.Event | None = None) -> list[Event]:
    events = list(backend.stream(REQUEST, cancel))
    assert sum(isinstance(e, (Done, Error)) for e in events) == 1
    assert isinstance(events[-1], (Done, Error))
    return events


def error_of(events: list[Event]) -> Error:
    assert isinstance(events[-1], Error), events[-1]
    return events[-1]


def done_of(events: list[Event]) -> Done:
    assert isinstance(events[-1], Done), events[-1]
    return events[-1]


def spans_text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Span))


# -- streaming ---------------------------------------------------------------------------------


def test_streamed_text_is_the_servers_greedy_text(server: ChatServer, tiny, project: Path) -> None:
    server.behaviour.answer_prefix = FENCE
    events = collect(backend_for(server))
    done = done_of(events)
    exchange = server.exchanges[-1]
    assert done.text and done.text == exchange.text.removeprefix(FENCE) == spans_text(events)
    assert sum(isinstance(e, Span) for e in events) > 1  # streamed, not buffered
    assert all(e.layer == "target" and e.accepted for e in events if isinstance(e, Span))
    assert isinstance(events[-2], Stats) and events[-2] == done.stats
    assert done.stats.new_tokens == exchange.usage["completion_tokens"]
    assert done.stats.chars == len(done.text)
    assert done.stop_reason == "max_new_tokens"  # the server's budget (24) ran out first
    # the server really decodes with the model: its text is plain greedy decoding of its prompt
    model, tokenizer = tiny
    ids = tokenizer(exchange.prompt, add_special_tokens=False, return_tensors="pt").input_ids
    greedy = model.generate(ids, max_new_tokens=24, do_sample=False)[0, ids.shape[1] :]
    assert FENCE + tokenizer.decode(greedy) == exchange.text


def test_request_is_a_greedy_streaming_chat_completion(server: ChatServer, project: Path) -> None:
    collect(backend_for(server))
    body = server.exchanges[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0 and body["model"] == server.name
    assert "max_tokens" not in body  # the server's own limit unless asked
    assert body["prediction"] == {"type": "content", "content": ORIGINAL}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]  # no pre-fill for unknown servers
    assert "continue_final_message" not in body


def test_max_tokens_bounds_the_answer(server: ChatServer, project: Path) -> None:
    done = done_of(collect(backend_for(server, max_tokens=5)))
    assert server.exchanges[-1].body["max_tokens"] == 5
    assert done.stats.new_tokens == 5 and done.stop_reason == "max_new_tokens"


def test_prediction_usage_reaches_stats(server: ChatServer, project: Path) -> None:
    stats = done_of(collect(backend_for(server))).stats
    details = server.exchanges[-1].usage["completion_tokens_details"]
    assert stats.remote_accepted_prediction_tokens == details["accepted_prediction_tokens"]
    assert stats.remote_rejected_prediction_tokens == details["rejected_prediction_tokens"]
    assert stats.remote_rejected_prediction_tokens > 0


def test_without_prediction_no_field_and_no_remote_counts(server: ChatServer, project: Path) -> None:
    stats = done_of(collect(backend_for(server, use_prediction=False))).stats
    assert "prediction" not in server.exchanges[-1].body
    assert stats.remote_accepted_prediction_tokens is None and stats.remote_rejected_prediction_tokens is None


@pytest.mark.parametrize(
    "refusal",
    [
        "Unrecognized request argument supplied: prediction",
        "Predicted Outputs are not supported with this model.",
    ],
)
def test_prediction_refused_retries_once_without_and_remembers(
    server: ChatServer, project: Path, refusal: str
) -> None:
    server.behaviour.accept_prediction = False
    server.behaviour.prediction_refusal = refusal
    backend = backend_for(server)
    done = done_of(collect(backend))
    assert ["prediction" in x.body for x in server.exchanges] == [True, False]
    assert done.text == server.exchanges[-1].text
    assert done.stats.remote_accepted_prediction_tokens is None
    done_of(collect(backend))
    assert ["prediction" in x.body for x in server.exchanges] == [True, False, False]
    assert "predicted outputs" not in backend.describe()


def test_leading_chatter_and_fence_line_are_dropped(server: ChatServer, project: Path) -> None:
    prefix = "Here is the updated file:\n```python\n"
    server.behaviour.answer_prefix = prefix  # streamed one character per chunk
    events = collect(backend_for(server))
    done = done_of(events)
    assert done.text == server.exchanges[-1].text.removeprefix(prefix) == spans_text(events)
    assert done.stats.chars == len(done.text)


def test_answer_without_fence_is_kept_whole(server: ChatServer, project: Path) -> None:
    server.behaviour.answer_prefix = "def add(a: int, b: int) -> int:\n    return a + b\n\n"
    done = done_of(collect(backend_for(server)))
    assert done.text == server.exchanges[-1].text


def test_vllm_gets_the_assistant_prefill(server: ChatServer, project: Path) -> None:
    server.behaviour.owned_by = "vllm"
    server.behaviour.answer_prefix = FENCE  # file content after a pre-fill: kept, not stripped
    done = done_of(collect(backend_for(server)))
    exchange = server.exchanges[-1]
    assert exchange.body["continue_final_message"] is True and exchange.body["add_generation_prompt"] is False
    assert exchange.body["messages"][-1] == {"role": "assistant", "content": FENCE}
    assert exchange.prompt.endswith("<|im_start|>assistant\n" + FENCE)
    assert done.text == exchange.text


def test_session_turns_the_stream_into_a_proposal(server: ChatServer, project: Path) -> None:
    server.behaviour.answer_prefix = FENCE + "def add(a: int, b: int) -> int:\n    return a + b\n```\n"
    outputs = list(propose_edit(backend_for(server), REQUEST))
    proposal = outputs[-1]
    assert isinstance(proposal, Proposal)
    assert proposal.new_text == "def add(a: int, b: int) -> int:\n    return a + b\n"


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_mid_stream(server: ChatServer, project: Path) -> None:
    server.behaviour.answer_prefix = FENCE
    full = done_of(collect(backend_for(server))).text
    cancel = threading.Event()
    events: list[Event] = []
    for event in backend_for(server).stream(REQUEST, cancel):
        events.append(event)
        if isinstance(event, Span):
            cancel.set()
    done = done_of(events)
    assert done.cancelled and done.stop_reason == "cancelled"
    assert done.text == spans_text(events) == events[0].text
    assert len(done.text) < len(full) and full.startswith(done.text)


def test_cancel_interrupts_a_stalled_stream(server: ChatServer, project: Path) -> None:
    server.behaviour.answer_prefix = FENCE  # 10 one-character chunks, dropped by the client
    server.behaviour.stall_after = 11  # so the first Span is the model's first token, then silence
    cancel = threading.Event()
    events: list[Event] = []
    for event in backend_for(server, timeout=20).stream(REQUEST, cancel):
        events.append(event)
        if isinstance(event, Span):  # the server now goes silent; cancel from another thread
            threading.Timer(0.2, cancel.set).start()
    done = done_of(events)  # without the watcher this would be a timeout Error after 20 s
    assert done.cancelled and done.text == spans_text(events)


def test_cancel_before_start_sends_nothing(server: ChatServer, project: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    done = done_of(collect(backend_for(server), cancel))
    assert done.cancelled and done.text == ""
    assert server.exchanges == []


# -- failures ----------------------------------------------------------------------------------


def test_server_down_is_a_network_error(project: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = error_of(collect(OpenAIBackend(f"http://127.0.0.1:{port}/v1", "any")))
    assert error.kind == "network"
    assert "connection refused" in error.message and str(port) in error.message


def test_wrong_api_key_is_an_auth_error(server: ChatServer, project: Path) -> None:
    server.behaviour.api_key = "sk-right"
    error = error_of(collect(backend_for(server, api_key="sk-wrong")))
    assert error.kind == "auth"
    assert "401" in error.message and "Incorrect API key" in error.message and "refused" in error.message


def test_missing_api_key_says_how_to_pass_one(server: ChatServer, project: Path) -> None:
    server.behaviour.api_key = "sk-right"
    error = error_of(collect(backend_for(server)))
    assert error.kind == "auth" and "--api-key" in error.message and "SPECEDIT_API_KEY" in error.message


@pytest.mark.parametrize("variable", ["SPECEDIT_API_KEY", "OPENAI_API_KEY"])
def test_api_key_from_environment(
    server: ChatServer, project: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    server.behaviour.api_key = "sk-right"
    monkeypatch.setenv(variable, "sk-right")
    done_of(collect(backend_for(server)))
    assert server.exchanges[-1].authorization == "Bearer sk-right"


def test_silent_server_times_out(server: ChatServer, project: Path) -> None:
    server.behaviour.first_token_delay = 30
    error = error_of(collect(backend_for(server, timeout=0.3)))
    assert error.kind == "timeout" and "timed out" in error.message


def test_server_error_status_carries_the_servers_message(server: ChatServer, project: Path) -> None:
    server.behaviour.fail_status = 503
    error = error_of(collect(backend_for(server)))
    assert error.kind == "server"
    assert "503" in error.message and "internal error: the engine crashed" in error.message


def test_unknown_model_is_a_clear_404(server: ChatServer, project: Path) -> None:
    error = error_of(collect(OpenAIBackend(server.url, "no-such-model")))
    assert error.kind == "server" and "404" in error.message and "no-such-model" in error.message


def test_error_event_mid_stream(server: ChatServer, project: Path) -> None:
    server.behaviour.error_after = 2
    events = collect(backend_for(server))
    error = error_of(events)
    assert error.kind == "server" and "engine overloaded" in error.message
    assert not any(isinstance(e, Done) for e in events)


def test_malformed_stream_is_a_protocol_error(server: ChatServer, project: Path) -> None:
    server.behaviour.garbage_after = 2
    error = error_of(collect(backend_for(server)))
    assert error.kind == "protocol" and "malformed" in error.message


def test_answer_without_event_stream_is_a_protocol_error(server: ChatServer, project: Path) -> None:
    server.behaviour.ignore_stream = True
    error = error_of(collect(backend_for(server)))
    assert error.kind == "protocol" and "event stream" in error.message


def test_other_bad_requests_are_not_retried(server: ChatServer, project: Path) -> None:
    server.behaviour.fail_status = 400
    server.behaviour.fail_message = "messages: too long for the context window"
    error = error_of(collect(backend_for(server)))
    assert error.kind == "server" and "too long" in error.message
    assert len(server.exchanges) == 1


def test_dropped_connection_is_not_a_result(server: ChatServer, project: Path) -> None:
    server.behaviour.drop_after = 3
    events = collect(backend_for(server))
    error = error_of(events)
    assert error.kind == "network" and "before the answer was complete" in error.message
    assert list(propose_edit(backend_for(server), REQUEST))[-1].__class__ is Error  # no Proposal


def test_bad_base_url_is_rejected_up_front() -> None:
    with pytest.raises(ValueError, match="http://HOST:PORT/v1"):
        OpenAIBackend("localhost:8000", "m")
    with pytest.raises(ValueError, match="--model"):
        OpenAIBackend("http://localhost:8000/v1", "")


def test_describe_names_model_and_server() -> None:
    text = OpenAIBackend("http://gpu-box:8000/v1/", "Qwen/Qwen2.5-Coder-7B-Instruct").describe()
    assert "Qwen/Qwen2.5-Coder-7B-Instruct" in text and "http://gpu-box:8000/v1" in text


# -- SSE parsing -------------------------------------------------------------------------------


def test_sse_events_follow_the_wire_format() -> None:
    raw = [
        b": keep-alive comment\n",
        b'data: {"a": 1}\r\n',
        b"\r\n",
        b"event: ping\n",
        b"data: line one\n",
        b"data: line two\n",
        b"\n",
        b'error: {"message": "boom"}\n',
        b"\n",
        b"data: [DONE]\n",  # the last event may lack its blank line
    ]
    assert list(iter_sse(raw)) == [
        SSEEvent('{"a": 1}'),
        SSEEvent("line one\nline two", "ping"),
        SSEEvent('{"message": "boom"}', "error"),
        SSEEvent("[DONE]"),
    ]


# -- faults: deadlines, hostile lines, credentials ----------------------------------------------


def test_keep_alive_comments_do_not_outlive_the_deadline(server: ChatServer, project: Path) -> None:
    server.behaviour.keepalive_every = 0.02  # the stream never goes quiet, so no read ever times out
    started = time.monotonic()
    error = error_of(collect(backend_for(server, timeout=0.5)))
    assert error.kind == "timeout" and "within 0.5 s" in error.message and "--timeout" in error.message
    assert time.monotonic() - started < 5


def test_an_overlong_stream_line_is_refused_without_buffering_it(
    server: ChatServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_compat, "MAX_SSE_LINE", 256 * 1024)
    server.behaviour.huge_line = 8 * 1024 * 1024
    error = error_of(collect(backend_for(server)))
    assert error.kind == "protocol" and "stream line over 0.25 MiB" in error.message


def test_credentials_in_the_base_url_are_never_shown(server: ChatServer, project: Path) -> None:
    url = server.url.replace("http://", "http://alice:SECRETKEY@") + "?api-key=QUERYKEY"
    backend = OpenAIBackend(url, server.name)
    done_of(collect(backend))  # the URL still reaches the server
    server.behaviour.fail_status = 503
    shown = [backend.describe(), backend.base_url, error_of(collect(backend)).message]
    with pytest.raises(ValueError) as bad:
        OpenAIBackend("ftp://alice:SECRETKEY@host/v1", "m")
    shown.append(str(bad.value))
    for text in shown:
        assert "SECRETKEY" not in text and "QUERYKEY" not in text and "alice" not in text


def test_read_lines_enforces_the_deadline_and_the_line_cap() -> None:
    body = io.BytesIO(b"data: 1\n\n: keep-alive\n")
    assert list(read_lines(body, time.monotonic() + 10, 64)) == [b"data: 1\n", b"\n", b": keep-alive\n"]
    with pytest.raises(TimeoutError):
        list(read_lines(io.BytesIO(b"data: 1\n"), time.monotonic() - 1, 64))
    with pytest.raises(SSELineTooLong):
        list(read_lines(io.BytesIO(b"data: " + b"x" * 100 + b"\n"), time.monotonic() + 10, 64))
    timeouts: list[float] = []
    list(read_lines(io.BytesIO(b"a\n"), time.monotonic() + 10, 64, timeouts.append))
    assert timeouts and all(0 < t <= 10 for t in timeouts)  # each wait is bounded by the time left


def test_timeout_flag_reaches_the_backend(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    flags = ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    default = make_backend(options_from_args(parser.parse_args(flags), tmp_path))
    chosen = make_backend(options_from_args(parser.parse_args([*flags, "--timeout", "7.5"]), tmp_path))
    assert isinstance(default, OpenAIBackend) and isinstance(chosen, OpenAIBackend)
    assert (default.timeout, chosen.timeout) == (openai_compat.DEFAULT_TIMEOUT_S, 7.5)
