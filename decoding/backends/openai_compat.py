"""Edit backend that drives an OpenAI-compatible serving engine (vLLM, llama.cpp, OpenAI itself).

Users who outgrow one GPU run the target on a serving engine, which does its own speculative
decoding (vLLM ngram/draft model, llama.cpp draft model); this backend turns one streaming Chat
Completions call into the same event stream as the local engine, so the TUI, ``specedit edit`` and
``specedit bench`` need no special case. It only reads from the network; it never writes a file.

Standard library only (``http.client``): one streaming POST needs no client library, and a blocked
read can be interrupted by shutting the socket down from a watcher thread, which is how cancel
stays immediate even while the server is silent (a long prefill, a stalled stream).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from common.redact import redact_url
from decoding.backends.sse import SSELineTooLong, iter_sse, read_lines
from decoding.events import Done, Error, Event, Span, Stats, StopReason
from decoding.prompts import assistant_prefill, chat_messages
from decoding.request import EditRequest

# Servers known to continue a final assistant message when asked with these extra fields; for them
# the answer is pre-filled with the opening fence like the local engine's prompt. Others get no
# pre-fill (OpenAI rejects unknown fields, llama.cpp's behaviour depends on its flags).
_PREFILL_FIELDS: dict[str, dict[str, bool]] = {
    "vllm": {"continue_final_message": True, "add_generation_prompt": False},
}
_FENCE_SEARCH_LINES = 3  # non-blank lines within which an answer not pre-filled opens its fence
_CANCEL_POLL_S = 0.05
DEFAULT_TIMEOUT_S = 600.0  # a whole answer: a 1 MB file from a CPU llama.cpp server takes minutes
MAX_SSE_LINE = 16 * 1024 * 1024  # one event line; a whole 1 MB file JSON-escaped fits several times
_MAX_BODY = 1024 * 1024  # a non-streamed answer (/models, an error): only its first MiB is read


class _Failure(Exception):
    """Carries the user-facing Error out of nested helpers."""

    def __init__(self, error: Error) -> None:
        super().__init__(error.message)
        self.error = error


class _PredictionRejected(Exception):
    """The server refused the ``prediction`` field; retry without it."""


class OpenAIBackend:
    """Streaming Chat Completions client speaking the EditBackend protocol."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        use_prediction: bool = True,
        max_tokens: int | None = None,
    ) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"--base-url must look like http://HOST:PORT/v1, got {redact_url(base_url)!r}")
        if not model:
            raise ValueError("--model must name the model the server serves (see its /v1/models)")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_tokens is not None and max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        # Shown in messages and the status bar: without userinfo or query, where keys hide.
        self.base_url = redact_url(base_url).rstrip("/")
        self.model = model
        self.api_key = api_key or os.environ.get("SPECEDIT_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout  # seconds for one whole answer, however the server keeps it busy
        self.use_prediction = use_prediction
        self.max_tokens = max_tokens  # None: the server's own limit (the context window, usually)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/")
        self._prediction_accepted = True  # until the server says otherwise (then remembered)
        self._server_family: str | None = None  # the /models "owned_by", probed once

    def describe(self) -> str:
        extra = ", predicted outputs" if self.use_prediction and self._prediction_accepted else ""
        return f"{self.model} via {self.base_url} (OpenAI-compatible{extra})"

    def method_and_engine(self) -> tuple[str, str]:
        """The server decodes as it was started to; the API does not say how."""
        return "server", "openai-compatible"

    def identity(self) -> str:
        """The served model by name and the budget; never the predicted-outputs state (it changes)."""
        return f"{self.model} via {self.base_url} · budget {self.max_tokens or 'auto'}"

    def stream(self, request: EditRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        started = time.monotonic()
        if cancel is not None and cancel.is_set():
            yield _Answer(strip_fence=False, started=started).cancelled()
            return
        try:
            prefill = _PREFILL_FIELDS.get(self._family())
        except _Failure as failure:
            yield failure.error
            return
        if request.prefix and prefill is None:  # it would start over: the answer cannot be continued
            yield Error("this server cannot continue a cut-off answer; retry with a larger budget", "budget")
            return
        with_prediction = self.use_prediction and self._prediction_accepted
        try:
            body = self._body(request, prefill, with_prediction)
            yield from self._exchange(body, _Answer(prefill is None, started), cancel, with_prediction)
        except _PredictionRejected:
            self._prediction_accepted = False  # remembered: later edits skip the failing first try
            body = self._body(request, prefill, with_prediction=False)
            yield from self._exchange(body, _Answer(prefill is None, started), cancel, with_prediction=False)

    # -- request -------------------------------------------------------------------------------

    def _body(self, request: EditRequest, prefill: dict[str, bool] | None, with_prediction: bool) -> dict:
        messages: list[dict[str, str]] = chat_messages(request)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if prefill is not None:
            messages.append({"role": "assistant", "content": assistant_prefill(request)})
            body.update(prefill)
        if with_prediction:
            body["prediction"] = {"type": "content", "content": request.original}
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _connect(self) -> http.client.HTTPConnection:
        """An open connection; connect errors are raised here, before any watcher needs the socket."""
        if self._https:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            conn.connect()
        except BaseException:
            conn.close()
            raise
        return conn

    def _family(self) -> str:
        """Which engine serves us (vLLM says so in /models); decides the assistant pre-fill."""
        if self._server_family is not None:
            return self._server_family
        try:
            conn = self._connect()
            try:
                conn.request("GET", f"{self._path}/models", headers=self._headers())
                response = conn.getresponse()
                payload = response.read(_MAX_BODY)
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            raise _Failure(self._transport_error(exc)) from exc
        if response.status in {401, 403}:
            raise _Failure(self._http_error(response.status, _server_message(payload)))
        self._server_family = _owned_by(payload, self.model) if response.status == 200 else ""
        return self._server_family

    def _exchange(
        self, body: dict, answer: _Answer, cancel: threading.Event | None, with_prediction: bool
    ) -> Iterator[Event]:
        try:
            conn = self._connect()
        except (OSError, http.client.HTTPException) as exc:
            yield self._transport_error(exc)
            return
        try:
            with _CancelWatch(cancel, conn):
                try:
                    conn.request(
                        "POST", f"{self._path}/chat/completions", json.dumps(body).encode(), self._headers()
                    )
                    response = conn.getresponse()
                    if response.status != 200:
                        payload = response.read(_MAX_BODY)
                        message = _server_message(payload)
                        # "Unrecognized request argument supplied: prediction", "Predicted Outputs
                        # are not supported with this model", or a "param": "prediction" field
                        if response.status == 400 and with_prediction and b"predict" in payload.lower():
                            raise _PredictionRejected(message)
                        yield self._http_error(response.status, message)
                        return
                    deadline = answer.started + self.timeout
                    lines = read_lines(response, deadline, MAX_SSE_LINE, _read_timeout_of(conn))
                    event_stream = (response.getheader("Content-Type") or "").startswith("text/event-stream")
                    yield from _read_stream(lines, answer, cancel, event_stream)
                except SSELineTooLong:
                    yield Error(
                        f"{self.base_url} sent a stream line over {MAX_SSE_LINE / 2**20:g} MiB; "
                        "stopped reading",
                        kind="protocol",
                    )
                except (OSError, http.client.HTTPException) as exc:
                    yield answer.cancelled() if _is_set(cancel) else self._transport_error(exc)
        finally:
            conn.close()

    # -- errors --------------------------------------------------------------------------------

    def _transport_error(self, exc: BaseException) -> Error:
        where = self.base_url
        if isinstance(exc, TimeoutError):
            return Error(
                f"no complete answer from {where} within {self.timeout:g} s (timed out; see --timeout)",
                kind="timeout",
            )
        if isinstance(exc, ConnectionRefusedError):
            return Error(f"cannot reach {where}: connection refused — is the server running?", kind="network")
        if isinstance(exc, socket.gaierror):
            return Error(f"cannot resolve the host of {where}: {exc.strerror or exc}", kind="network")
        if isinstance(exc, ssl.SSLError):
            return Error(f"TLS error talking to {where}: {exc}", kind="network")
        if isinstance(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionError)):
            return Error(f"{where} closed the connection before the answer was complete", kind="network")
        if isinstance(exc, http.client.HTTPException):
            what = type(exc).__name__
            return Error(f"{where} did not answer like an HTTP server ({what})", kind="protocol")
        return Error(f"network error talking to {where}: {exc}", kind="network")

    def _http_error(self, status: int, message: str) -> Error:
        detail = f": {message}" if message else ""
        if status in {401, 403}:
            hint = (
                "the API key was refused; check --api-key / SPECEDIT_API_KEY"
                if self.api_key
                else "the server needs an API key; pass --api-key or set SPECEDIT_API_KEY"
            )
            return Error(f"{self.base_url} answered {status} ({hint}){detail}", kind="auth")
        if status == 404:
            hint = f"is --base-url right (usually ends in /v1) and does it serve {self.model!r}?"
            return Error(f"{self.base_url} answered 404 ({hint}){detail}", kind="server")
        return Error(f"{self.base_url} answered {status}{detail}", kind="server")


class _Answer:
    """The streamed answer: drops a leading fence line and keeps the running totals.

    With the pre-fill the server continues right after the opening fence, like the local engine.
    Without it the model opens the code block itself, sometimes after a line of chatter; the text up
    to and including that fence line is held back and dropped so ``Done.text`` (and what the UI
    shows) has the local engine's shape, which ``extract_file`` expects.
    """

    def __init__(self, strip_fence: bool, started: float) -> None:
        self.started = started
        self.text = ""
        self.chunks = 0
        self.first_text_at: float | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._held: str | None = "" if strip_fence else None  # None once decided

    def feed(self, delta: str) -> str:
        """Add a streamed delta; returns the part that belongs to the answer now (maybe empty)."""
        self.chunks += 1
        if self.first_text_at is None:
            self.first_text_at = time.monotonic()
        if self._held is not None:
            self._held += delta
            lines = self._held.splitlines(keepends=True)
            seen = 0
            for index, line in enumerate(lines):
                if not line.endswith("\n") or seen == _FENCE_SEARCH_LINES:
                    break
                if line.lstrip().startswith("```"):
                    return self._release("".join(lines[index + 1 :]))
                seen += bool(line.strip())
            return self._release(self._held) if seen == _FENCE_SEARCH_LINES else ""
        self.text += delta
        return delta

    def flush(self) -> str:
        """At the end of the stream: whatever is still held was not preceded by a fence."""
        return self._release(self._held) if self._held else ""

    def _release(self, text: str) -> str:
        self._held = None
        self.text += text
        return text

    def stats(self) -> Stats:
        usage = self.usage or {}
        details = usage.get("completion_tokens_details") or {}
        first = self.first_text_at
        return Stats(
            new_tokens=_int(usage.get("completion_tokens")) or self.chunks,
            chars=len(self.text),
            elapsed=time.monotonic() - self.started,
            prefill_seconds=(first - self.started) if first is not None else 0.0,
            remote_accepted_prediction_tokens=_int(details.get("accepted_prediction_tokens")),
            remote_rejected_prediction_tokens=_int(details.get("rejected_prediction_tokens")),
        )

    def cancelled(self) -> Done:
        return Done(self.text, (), self.stats(), cancelled=True, stop_reason="cancelled")

    def done(self, stats: Stats) -> Done:
        reason: StopReason = "remote"  # e.g. "content_filter": the server's own reason
        if self.finish_reason == "stop":
            reason = "eos"
        elif self.finish_reason == "length":
            reason = "max_new_tokens"
        return Done(self.text, (), stats, stop_reason=reason)


def _read_stream(
    lines: Iterable[bytes], answer: _Answer, cancel: threading.Event | None, event_stream: bool
) -> Iterator[Event]:
    """Chunks -> Span/Stats events, ending with Done or Error."""
    finished = False
    events = 0
    for sse in iter_sse(lines):
        events += 1
        if _is_set(cancel):
            yield answer.cancelled()
            return
        if sse.data.strip() == "[DONE]":
            finished = True
            break
        try:
            payload = json.loads(sse.data)
        except json.JSONDecodeError:
            yield Error(f"malformed stream from the server: {sse.data[:120]!r}", kind="protocol")
            return
        if not isinstance(payload, dict):
            yield Error(f"malformed stream from the server: {sse.data[:120]!r}", kind="protocol")
            return
        if sse.event == "error" or payload.get("error"):
            yield Error(f"the server failed mid-answer: {_message_of(payload)}", kind="server")
            return
        if isinstance(payload.get("usage"), dict):
            answer.usage = payload["usage"]
        choices = payload.get("choices") or []
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            yield Error(f"malformed stream from the server: {sse.data[:120]!r}", kind="protocol")
            return
        for choice in choices:
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                text = answer.feed(content)
                if text:
                    yield Span(text, (), "target", True)
                    yield answer.stats()
            if choice.get("finish_reason"):
                answer.finish_reason = str(choice["finish_reason"])
    if _is_set(cancel):
        yield answer.cancelled()
        return
    if events == 0 and not event_stream:  # an announced stream that ended at once was cut, not refused
        yield Error(
            "the server answered without an event stream (does it support stream=true?)", kind="protocol"
        )
        return
    if not finished and answer.finish_reason is None:
        yield Error("the server closed the stream before the answer was complete", kind="network")
        return
    rest = answer.flush()
    if rest:
        yield Span(rest, (), "target", True)
    final = answer.stats()
    yield final
    yield answer.done(final)


class _CancelWatch:
    """Shuts the connection's socket down as soon as ``cancel`` is set.

    A read blocked on a silent server then returns at once instead of after ``timeout``; the
    reader sees the cancel flag and reports a cancelled Done rather than a network error.
    """

    def __init__(self, cancel: threading.Event | None, conn: http.client.HTTPConnection) -> None:
        self._cancel = cancel
        self._conn = conn
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _CancelWatch:
        if self._cancel is not None:
            self._thread = threading.Thread(target=self._watch, name="specedit-cancel-watch", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finished.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        assert self._cancel is not None
        while not self._finished.is_set():
            if self._cancel.wait(_CANCEL_POLL_S):
                sock = self._conn.sock
                if sock is not None:
                    with contextlib.suppress(OSError):  # already closed: nothing left to interrupt
                        sock.shutdown(socket.SHUT_RDWR)
                return


def _read_timeout_of(conn: http.client.HTTPConnection) -> Callable[[float], None]:
    def set_timeout(seconds: float) -> None:
        if conn.sock is not None:
            conn.sock.settimeout(seconds)

    return set_timeout


def _is_set(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _owned_by(payload: bytes, model: str) -> str:
    """The ``owned_by`` of our model (or of the first model) in a /models answer; "" if unknown."""
    try:
        data = json.loads(payload).get("data") or []
    except (json.JSONDecodeError, AttributeError):
        return ""
    cards = [card for card in data if isinstance(card, dict)]
    mine = [card for card in cards if card.get("id") == model] or cards
    return str(mine[0].get("owned_by") or "") if mine else ""


def _server_message(payload: bytes) -> str:
    """The human part of an error body (OpenAI, vLLM, llama.cpp and FastAPI shapes), else its text."""
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text[:300]
    return _message_of(data) if isinstance(data, dict) else text[:300]


def _message_of(data: dict) -> str:
    error = data.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    for key in ("message", "detail", "error"):
        if data.get(key):
            return str(data[key])
    return json.dumps(data)[:300]
