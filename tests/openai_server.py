"""A real OpenAI-compatible Chat Completions server for tests, generating with a real (tiny) model.

Why not llama-cpp-python's server with the builtin GGUF: PyPI has only its source distribution (a
76 MB sdist whose CMake build of llama.cpp takes far longer than CI allows on 2 cores), no binary
wheel. So this module serves the protocol with the standard library instead: ``ThreadingHTTPServer``
on 127.0.0.1, chunked HTTP/1.1 with SSE ``data:`` chunks, the usage chunk of
``stream_options.include_usage``, ``data: [DONE]``, bearer-key checks, OpenAI-style error bodies,
``prediction`` accounting, vLLM's ``continue_final_message`` and ``/v1/models``. The text comes from
greedy decoding of a seeded model through its chat template, token by token with a KV cache, so the
client is tested against what a serving engine really does (incremental UTF-8 included), and
:class:`Behaviour` knobs inject the failures a real deployment has: slow or stalled streams,
dropped connections, garbage, mid-stream errors, 5xx, refused fields.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch
from transformers import DynamicCache

from decoding.engine.kv import CACHE_ARG

_OPENAI_FIELDS = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "n",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "prediction",
    "seed",
}
_VLLM_FIELDS = {"continue_final_message", "add_generation_prompt"}


@dataclass
class Behaviour:
    """How the server acts; tests flip these to produce each failure mode."""

    api_key: str | None = None  # require "Authorization: Bearer <key>"
    owned_by: str = "specedit-tests"  # "vllm": accept vLLM's extra fields and continue prefills
    accept_prediction: bool = True  # False: 400 on the field, as servers without predicted outputs
    prediction_refusal: str = "Unrecognized request argument supplied: prediction"
    ignore_stream: bool = False  # answer with one JSON completion, as some proxies do
    answer_prefix: str = ""  # streamed before the model's tokens (a chat model opening its fence)
    max_tokens: int = 24  # the server's own generation limit (a request's max_tokens can lower it)
    fail_status: int | None = None  # answer every completion with this status
    fail_message: str = "internal error: the engine crashed"
    first_token_delay: float = 0.0  # seconds between the response headers and the first chunk
    stall_after: int | None = None  # stop sending after this many chunks (until the server closes)
    drop_after: int | None = None  # close the connection after this many chunks, no [DONE]
    garbage_after: int | None = None  # send a line that is not JSON after this many chunks
    error_after: int | None = None  # send an OpenAI error object mid-stream after this many chunks
    keepalive_every: float | None = None  # only send ": keep-alive" comments, this often, forever
    huge_line: int | None = None  # send one data line of this many bytes (a broken or hostile server)


@dataclass
class Exchange:
    """One request as the server saw it and what it answered."""

    body: dict[str, Any]
    authorization: str | None
    prompt: str = ""
    text: str = ""  # everything streamed as content, prefix included
    usage: dict[str, Any] = field(default_factory=dict)


class ChatServer:
    """Serve ``model`` on 127.0.0.1 (free port) until :meth:`close`; usable as a context manager."""

    def __init__(
        self, model: Any, tokenizer: Any, name: str = "tiny-llama", behaviour: Behaviour | None = None
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.behaviour = behaviour or Behaviour()
        self.exchanges: list[Exchange] = []
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.chat = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="chat-server", daemon=True
        )  # a short poll interval so close() returns quickly
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.stopping.set()  # releases handlers sleeping in delays and stalls
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self, body: dict[str, Any]) -> str:
        """The prompt text, continuing a final assistant message where vLLM would."""
        messages = body["messages"]
        if body.get("continue_final_message") and messages and messages[-1]["role"] == "assistant":
            head = self.tokenizer.apply_chat_template(
                messages[:-1], tokenize=False, add_generation_prompt=True
            )
            return head + messages[-1]["content"]
        generation_prompt = body.get("add_generation_prompt", True)
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )

    def generate(self, prompt: str, max_tokens: int) -> Iterator[tuple[str, int]]:
        """Greedy decoding, yielding (text delta, token id); a delta never splits a UTF-8 character."""
        ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        eos = self.tokenizer.eos_token_id
        generated: list[int] = []
        sent = ""
        cache = DynamicCache(config=self.model.config)
        with torch.inference_mode():
            out = self.model(ids, use_cache=True, **{CACHE_ARG: cache})
            for _ in range(max_tokens):
                token = int(out.logits[0, -1].argmax())
                if token == eos:
                    return
                generated.append(token)
                text = self.tokenizer.decode(generated)
                if text.startswith(sent) and not text.endswith("\ufffd"):
                    yield text[len(sent) :], token
                    sent = text
                else:
                    yield "", token
                out = self.model(torch.tensor([[token]]), use_cache=True, **{CACHE_ARG: cache})
        text = self.tokenizer.decode(generated)
        assert text.startswith(sent), "decoded text must only grow"
        if text != sent:
            yield text[len(sent) :], -1


def _prediction_usage(tokenizer: Any, prediction: str, completion_ids: list[int]) -> dict[str, int]:
    """Predicted tokens that appear, in order, in the completion count as accepted; the rest rejected."""
    predicted = tokenizer(prediction, add_special_tokens=False).input_ids
    matcher = difflib.SequenceMatcher(None, predicted, completion_ids, autojunk=False)
    accepted = sum(block.size for block in matcher.get_matching_blocks())
    return {"accepted_prediction_tokens": accepted, "rejected_prediction_tokens": len(predicted) - accepted}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def chat(self) -> ChatServer:
        return self.server.chat  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the tests read :attr:`ChatServer.exchanges` instead."""

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/v1/models":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        card = {"id": self.chat.name, "object": "model", "owned_by": self.chat.behaviour.owned_by}
        self._json(200, {"object": "list", "data": [card]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        exchange = Exchange(body, self.headers.get("Authorization"))
        self.chat.exchanges.append(exchange)
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        refusal = self._refusal(body)
        if refusal is not None:
            self._json(*refusal)
            return
        if self.chat.behaviour.ignore_stream:
            exchange.prompt = self.chat.render(body)
            exchange.text = "".join(text for text, _ in self.chat.generate(exchange.prompt, 8))
            message = {"role": "assistant", "content": exchange.text}
            self._json(200, {"object": "chat.completion", "choices": [{"index": 0, "message": message}]})
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client hung up (cancel)
            self._stream(body, exchange)

    # -- helpers -------------------------------------------------------------------------------

    def _authorized(self) -> bool:
        key = self.chat.behaviour.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        error = {
            "message": "Incorrect API key provided.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
        self._json(401, {"error": error})
        return False

    def _refusal(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        behaviour = self.chat.behaviour
        allowed = _OPENAI_FIELDS | (_VLLM_FIELDS if behaviour.owned_by == "vllm" else set())
        unknown = sorted(set(body) - allowed)
        if unknown:
            message = f"Unrecognized request argument supplied: {unknown[0]}"
            return 400, {"error": {"message": message, "type": "invalid_request_error", "param": unknown[0]}}
        if "prediction" in body and not behaviour.accept_prediction:
            error = {"message": behaviour.prediction_refusal, "type": "invalid_request_error", "param": None}
            return 400, {"error": error}
        if body.get("model") != self.chat.name:
            return 404, {
                "error": {"message": f"The model `{body.get('model')}` does not exist.", "type": "not_found"}
            }
        if behaviour.fail_status is not None:
            return behaviour.fail_status, {
                "error": {"message": behaviour.fail_message, "type": "server_error"}
            }
        return None

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._chunk(f"data: {text}\n\n".encode())

    def _stream(self, body: dict[str, Any], exchange: Exchange) -> None:
        chat, behaviour = self.chat, self.chat.behaviour
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        base = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": chat.name,
        }

        def delta(content: str | None, finish: str | None = None) -> dict[str, Any]:
            message = {} if content is None else {"role": "assistant", "content": content}
            return {**base, "choices": [{"index": 0, "delta": message, "finish_reason": finish}]}

        if behaviour.first_token_delay and chat.stopping.wait(behaviour.first_token_delay):
            return
        exchange.prompt = chat.render(body)
        self._event(delta(""))  # the role-only opening chunk OpenAI sends
        if behaviour.keepalive_every is not None:
            while not chat.stopping.wait(behaviour.keepalive_every):
                self._chunk(b": keep-alive\n\n")
            return
        if behaviour.huge_line is not None:
            self._chunk(b"data: ")
            piece = b"x" * 65536
            for _ in range(behaviour.huge_line // len(piece)):
                self._chunk(piece)
            return
        prefix = [(char, -1) for char in behaviour.answer_prefix]  # one char per chunk: splits lines
        token_ids: list[int] = []
        sent = 0
        finish = "stop"
        budget = min(behaviour.max_tokens, body.get("max_tokens") or behaviour.max_tokens)
        for text, token in itertools.chain(prefix, chat.generate(exchange.prompt, budget)):
            if sent == behaviour.stall_after:
                chat.stopping.wait(60)
                return
            if sent == behaviour.drop_after:
                return
            if sent == behaviour.garbage_after:
                self._event("{this is not json")
            if sent == behaviour.error_after:
                self._event({"error": {"message": "engine overloaded", "type": "server_error"}})
                return
            if token >= 0:
                token_ids.append(token)
            if text:
                self._event(delta(text))
                exchange.text += text
                sent += 1
        if len(token_ids) >= budget:
            finish = "length"
        self._event(delta(None, finish))
        usage: dict[str, Any] = {
            "prompt_tokens": len(chat.tokenizer(exchange.prompt, add_special_tokens=False).input_ids),
            "completion_tokens": len(token_ids),
        }
        prediction = body.get("prediction")
        if isinstance(prediction, dict) and isinstance(prediction.get("content"), str):
            usage["completion_tokens_details"] = _prediction_usage(
                chat.tokenizer, prediction["content"], token_ids
            )
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        exchange.usage = usage
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({**base, "choices": [], "usage": usage})
        self._event("[DONE]")
        self._chunk(b"")
