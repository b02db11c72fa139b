"""Bench OpenAI-compatible servers (llama.cpp, vLLM) next to the in-process engine, in one run.

The question users ask is "is a serving engine faster than specedit's own on my machine?", so the
server must see exactly the engine's prompt: the chat template rendered by the local tokenizer, with
the assistant turn pre-filled with the opening fence. That is why this goes through the plain
``/v1/completions`` endpoint with the rendered text rather than chat completions (where the server
renders its own template and cannot pre-fill), with the same token budget and the same closing-fence
stop. Items are interleaved: on each item the engine's methods run, then every server, so drift on a
busy machine hits all alike.

Losslessness: every server answer is compared with the first server's (its plain greedy reference;
speculation inside a greedy server must not change the text). Agreement with our engine's ``regular``
is counted separately and is not a failure: a server runs the quantized GGUF with its own kernels
while the engine runs the dequantized float weights, so near-ties can go either way.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.redact import redact_url
from decoding.backends.local import LocalBackend
from decoding.bench.runner import BenchItem, GridVariant, MethodRun, Runner, compare, run_bench
from decoding.prompts import render_prompt, stop_text
from decoding.request import EditRequest

DEFAULT_TIMEOUT_S = 600.0  # one whole answer on a CPU server, not one chunk


class RemoteError(Exception):
    """A server cannot be benchmarked (unreachable, refused the request, answered nonsense)."""


@dataclass(frozen=True)
class Server:
    """One server to bench: its label in the tables, its API root and the model name it serves."""

    label: str
    base_url: str
    model: str
    family: str  # /v1/models "owned_by": "llamacpp", "vllm", ... ("" when unknown)
    api_key: str | None = field(default=None, repr=False)


def parse_servers(spec: str) -> list[tuple[str, str]]:
    """``"plain=http://h:8081/v1,ngram=http://h:8082/v1"`` -> [(label, url)]; a bare URL is ``server``."""
    pairs: list[tuple[str, str]] = []
    for n, part in enumerate(p.strip() for p in spec.split(",") if p.strip()):
        label, sep, url = part.partition("=")
        if not sep:
            label, url = f"server{n + 1}" if n else "server", part
        if not url.startswith(("http://", "https://")) or not label:
            raise ValueError(f"bad --base-url entry {part!r}: use [LABEL=]http://HOST:PORT/v1")
        pairs.append((label.strip(), url.strip().rstrip("/")))
    if not pairs:
        raise ValueError("--base-url names no server: use [LABEL=]http://HOST:PORT/v1[,...]")
    labels = [label for label, _ in pairs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"--base-url labels must differ, got {labels}")
    return pairs


def _call(url: str, body: dict[str, Any] | None, api_key: str | None, timeout: float) -> dict[str, Any]:
    """GET (no body) or POST JSON; the server's own error message on failure."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:300]
        raise RemoteError(f"{redact_url(url)} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(f"cannot reach {redact_url(url)}: {reason}") from None
    try:
        answer = json.loads(payload)
    except json.JSONDecodeError:
        raise RemoteError(f"{redact_url(url)} did not answer JSON: {payload[:120]!r}") from None
    if not isinstance(answer, dict):
        raise RemoteError(f"{redact_url(url)} did not answer a JSON object: {payload[:120]!r}")
    return answer


def connect(label: str, base_url: str, api_key: str | None, timeout: float = 30.0) -> Server:
    """Ask the server which model it serves (bench sends that name, so no --model is needed for it)."""
    cards = _call(f"{base_url}/models", None, api_key, timeout).get("data") or []
    card = next((c for c in cards if isinstance(c, dict) and c.get("id")), None)
    if card is None:
        raise RemoteError(f"{redact_url(base_url)}/models lists no model")
    return Server(label, base_url, str(card["id"]), str(card.get("owned_by") or ""), api_key)


def connect_all(spec: str, api_key: str | None) -> list[Server]:
    """Every server of a ``--base-url`` list, asked for its model; ValueError for a malformed list."""
    key = api_key or os.environ.get("SPECEDIT_API_KEY") or os.environ.get("OPENAI_API_KEY")
    return [connect(label, url, key) for label, url in parse_servers(spec)]


@dataclass
class Agreement:
    """How many items a server answered with exactly the text of our engine's ``regular``."""

    same: int = 0
    items: int = 0
    differing: list[str] = field(default_factory=list)


class RemoteRunner:
    """Sends one bench item to one server with the engine's prompt, budget and stop; measures it."""

    def __init__(self, backend: LocalBackend, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.backend = backend
        self.timeout = timeout

    def run(self, item: BenchItem, server: Server) -> tuple[str, MethodRun]:
        request = EditRequest(path=item.path, original=item.before, instruction=item.instruction)
        tokenizer = self.backend.models.tokenizer
        _, original_ids = self.backend.encode(request)
        config = self.backend.config_for(request, original_ids)
        body: dict[str, Any] = {
            "model": server.model,
            "prompt": render_prompt(tokenizer, request),
            "max_tokens": config.max_new_tokens,
            "temperature": 0,
            "stop": [config.stop_text],
            "stream": False,
        }
        if server.family == "llamacpp":
            # Its slots keep the last prompt's KV: the warm-up's item would be answered without prefill.
            body["cache_prompt"] = False
        start = time.perf_counter()
        answer = _call(f"{server.base_url}/completions", body, server.api_key, self.timeout)
        seconds = time.perf_counter() - start
        choices = answer.get("choices") or [{}]
        text = choices[0].get("text") if isinstance(choices[0], dict) else None
        if not isinstance(text, str):
            raise RemoteError(f"{server.base_url}/completions answered without text: {str(answer)[:200]}")
        usage = answer.get("usage") or {}
        tokens = usage.get("completion_tokens")
        if not isinstance(tokens, int):
            tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        timings = answer.get("timings") or {}
        drafted, accepted = timings.get("draft_n"), timings.get("draft_n_accepted")
        acceptance: dict[str, float | None] = {"lookup": None, "draft": None}
        if isinstance(drafted, int) and drafted > 0 and isinstance(accepted, int):
            acceptance["draft"] = accepted / drafted  # llama.cpp reports ngram and model drafts alike
        run = MethodRun(
            item.id, server.label, True, None, tokens, len(text), seconds, 0, 0, acceptance, item.edit_ratio
        )
        return text, run


class _KeepsReference(Runner):
    """The engine's runner, remembering the token ids of the last ``regular`` run (the servers' yardstick)."""

    def __init__(self, runner: Runner) -> None:
        super().__init__(runner.backend)
        self.regular_ids: list[int] = []

    def run(
        self, item: BenchItem, method: str, overrides: dict[str, int] | None = None
    ) -> tuple[list[int], MethodRun]:
        ids, run = super().run(item, method, overrides)
        if method == "regular":
            self.regular_ids = ids
        return ids, run

    def engine_text(self, item: BenchItem) -> str:
        """Our plain greedy answer for the item, cut at the closing fence like a server's."""
        request = EditRequest(path=item.path, original=item.before, instruction=item.instruction)
        text = self.backend.models.tokenizer.decode(self.regular_ids, skip_special_tokens=True)
        stop = stop_text(request)
        return text[: text.index(stop)] if stop in text else text


def run_side_by_side(
    runner: Runner,
    remote: RemoteRunner,
    servers: Sequence[Server],
    items: Sequence[BenchItem],
    methods: Sequence[str],
    grid: Sequence[GridVariant] = (),
    warmup: bool = True,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> tuple[list[MethodRun], dict[str, Agreement]]:
    """The engine's methods, then every server, on each item in turn; returns runs and engine agreement."""
    engine = _KeepsReference(runner)
    tokenizer = runner.backend.models.tokenizer
    if warmup and items:
        for server in servers:
            remote.run(items[0], server)
    runs: list[MethodRun] = []
    agreement = {s.label: Agreement() for s in servers}
    per_item = 1 + len([m for m in methods if m != "regular"]) + len(grid) + len(servers)
    for n, item in enumerate(items):
        runs += run_bench(engine, [item], methods, grid, warmup=warmup and n == 0)
        if on_progress:
            on_progress(len(runs), per_item * len(items), f"{item.id} engine")
        ours = engine.engine_text(item)
        reference: list[int] | None = None
        for server in servers:
            text, run = remote.run(item, server)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            if reference is None:
                reference = ids
            else:
                run.identical, run.first_diff = compare(reference, ids)
            tally = agreement[server.label]
            tally.items += 1
            if text == ours:
                tally.same += 1
            else:
                tally.differing.append(item.id)
            runs.append(run)
            if on_progress:
                on_progress(len(runs), per_item * len(items), f"{item.id} {server.label}")
    return runs, agreement
