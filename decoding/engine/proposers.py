"""Proposers: what each method puts in front of the target before one verification forward.

A proposer returns the draft as segments labelled by the layer that produced them, and hears back
how many draft tokens the target accepted so it can sync its own state (draft KV cache, lookup
index, adaptive length). ``regular`` proposes nothing, so all methods share one verification loop.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import torch

from decoding.engine.config import SpecConfig
from decoding.engine.costs import DraftLength, timed_forward
from decoding.engine.lm import LM
from decoding.engine.lookup import PromptLookup
from decoding.events import Layer

Segment = tuple[Layer, list[int]]

DRAFT_PROBATION = 16  # output tokens the draft must guess before multilayer trusts (or drops) it


class Proposer(Protocol):
    def propose(self, seq: list[int], limit: int, cancel: threading.Event | None) -> list[Segment]:
        """A draft of at most ``limit`` tokens to follow ``seq`` (prompt + committed output)."""
        ...

    def commit(self, seq: list[int], old_length: int, accepted: int) -> None:
        """``seq`` grew from ``old_length``; ``accepted`` tokens of the last draft were kept."""
        ...

    @property
    def forwards(self) -> int: ...

    def close(self) -> None:
        """The generation is over: release what the proposer runs in the background."""
        ...


class NoDraft:
    forwards = 0

    def propose(self, seq: list[int], limit: int, cancel: threading.Event | None) -> list[Segment]:
        return []

    def commit(self, seq: list[int], old_length: int, accepted: int) -> None:
        pass

    def close(self) -> None:
        pass


def _generated_tail(seq: list[int], prompt_length: int, drafted: Sequence[int], n: int) -> list[int]:
    """The last ``n`` tokens of output + draft, never reaching into the prompt."""
    tail = list(drafted[-n:])
    if len(tail) < n:
        start = max(prompt_length, len(seq) - (n - len(tail)))
        tail = seq[start:] + tail
    return tail


class LookupDrafter:
    """PLD straight into the target; ``length`` (measured costs) may verify fewer than ``count`` tokens."""

    forwards = 0

    def __init__(
        self, lookup: PromptLookup, prompt_length: int, count: int, length: DraftLength | None = None
    ) -> None:
        self.lookup, self.prompt_length, self.count = lookup, prompt_length, count
        self.length = length
        self._judged: int | None = None  # tokens the length policy let through (None: not asked)

    def propose(self, seq: list[int], limit: int, cancel: threading.Event | None) -> list[Segment]:
        suffix = _generated_tail(seq, self.prompt_length, (), self.lookup.max_n)
        tokens = self.lookup.propose(suffix, min(self.count, limit))
        self._judged = None
        if self.length is not None and tokens:
            tokens = tokens[: self.length.choose(len(tokens))]
            self._judged = len(tokens)
        return [("lookup", tokens)] if tokens else []

    def commit(self, seq: list[int], old_length: int, accepted: int) -> None:
        self.lookup.extend(seq[old_length:])
        if self.length is not None and self._judged is not None:
            self.length.observe(self._judged, accepted)

    def close(self) -> None:
        pass


class DraftModel:
    """The draft model's cache kept in step with ``seq`` + the draft being built.

    With ``background`` the draft reads the prompt on a thread of its own while the target reads it:
    both engines' kernels run without the GIL, so with a core to spare the draft's prompt costs no wall
    time (read in line, the 0.5B draft's prompt added 2.6 s to the Qwen pair's first token on CPU,
    docs/benchmarks.md). Without a spare core the two would preempt each other's threads, so the
    draft then reads the prompt at its first use. Everything waits for the read (:attr:`runner`), so
    no two threads ever touch the draft's cache.
    """

    def __init__(
        self,
        model: LM,
        prompt: Sequence[int] = (),
        chunk: int = 512,
        cancel: threading.Event | None = None,
        background: bool = True,
    ) -> None:
        self._model = model
        self.forwards_before = model.forwards
        self._read_forwards = 0  # the prompt read's forwards, not counted as drafting
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._reader: threading.Thread | None = None
        self._unread: tuple[list[int], int, threading.Event | None] | None = None  # read at first use
        end = len(prompt) - 1  # the last prompt token goes with the first draft forward
        if model.length < end:
            read = (list(prompt[:end]), chunk, cancel)
            if background:
                name = "draft-prompt"
                self._reader = threading.Thread(target=self._read, args=read, name=name, daemon=True)
                self._reader.start()
            else:
                self._unread = read

    def _read(self, tokens: list[int], chunk: int, cancel: threading.Event | None) -> None:
        try:
            while self._model.length < len(tokens) and not self._stop.is_set():
                if cancel is not None and cancel.is_set():
                    return
                fed = self._model.length
                self._model.forward(tokens[fed : fed + chunk], keep=1)
                self._read_forwards += 1
        except BaseException as exc:  # raised again where the draft is next used
            self._failure = exc

    def _wait(self) -> None:
        """The prompt read is over: joined where it ran beside the target, done now where it waited."""
        if self._reader is not None:
            self._reader.join()
            self._reader = None
        unread, self._unread = self._unread, None
        if unread is not None and not self._stop.is_set():
            self._read(*unread)

    @property
    def runner(self) -> LM:
        """The draft LM, once its prompt read is over; a failed read raises here, on the engine's thread."""
        self._wait()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        return self._model

    @property
    def forwards(self) -> int:
        """Draft forwards spent drafting (without waiting for the prompt read)."""
        return self._model.forwards - self.forwards_before - self._read_forwards

    def run(self, seq: list[int], drafted: list[int], chunk: Sequence[int]) -> torch.Tensor:
        """Logits predicting each token of ``chunk`` and the one after it (``len(chunk) + 1`` rows)."""
        runner = self.runner
        fed = runner.length
        unseen = seq[fed:] + drafted if fed <= len(seq) else drafted[fed - len(seq) :]
        return timed_forward(runner, unseen + list(chunk), keep=len(chunk) + 1)

    def sync(self, old_length: int, accepted: int) -> None:
        """Drop the cached draft tokens the target rejected."""
        runner = self.runner
        runner.rollback(min(runner.length, old_length + accepted))

    def close(self) -> None:
        """Stop a prompt read still under way (a cancel, an early stop) and wait for it to let go."""
        self._stop.set()
        self._wait()


def _append(segments: list[Segment], layer: Layer, tokens: list[int]) -> None:
    """Add tokens, merging with the last segment when the layer is the same (fewer, longer spans)."""
    if segments and segments[-1][0] == layer:
        segments[-1][1].extend(tokens)
    else:
        segments.append((layer, list(tokens)))


def _top(logits: torch.Tensor) -> tuple[int, float]:
    probs = torch.softmax(logits.float(), dim=-1)
    p, token = probs.max(dim=-1)
    return int(token), float(p)


class ModelDrafter:
    """The draft model proposes autoregressively; its length adapts to the last acceptance.

    Drafting stops early when the draft is unsure (top probability below ``draft_min_prob``): such
    tokens are mostly rejected and each costs a draft forward.
    """

    def __init__(self, draft: DraftModel, config: SpecConfig, cost: DraftLength | None = None) -> None:
        self.draft = draft
        self.length = config.num_draft_tokens
        self.max_length = config.max_draft_tokens
        self.min_prob = config.draft_min_prob
        self.cost = cost
        self._proposed = 0

    @property
    def forwards(self) -> int:
        return self.draft.forwards

    def close(self) -> None:
        self.draft.close()

    def propose(self, seq: list[int], limit: int, cancel: threading.Event | None) -> list[Segment]:
        drafted: list[int] = []
        want = min(self.length, limit)
        if self.cost is not None:
            want = self.cost.choose(want)
        while len(drafted) < want and not (drafted and cancel is not None and cancel.is_set()):
            token, p = _top(self.draft.run(seq, drafted, ())[-1])
            if drafted and p < self.min_prob:
                break
            drafted.append(token)
        self._proposed = len(drafted)
        return [("draft", drafted)] if drafted else []

    def commit(self, seq: list[int], old_length: int, accepted: int) -> None:
        self.draft.sync(old_length, accepted)
        if self.cost is not None:
            self.cost.observe(self._proposed, accepted)
        if self._proposed and accepted == self._proposed:
            self.length = min(self.max_length, self.length + 2)
        elif self._proposed:
            self.length = max(1, self.length - 1)


class MultiLayerDrafter:
    """Blazedit: PLD proposes to the draft model, the draft verifies each chunk in one forward.

    A micro-round checks up to ``micro_draft_tokens`` PLD tokens with one draft forward, keeps the
    agreeing prefix and appends the draft's own next token (its correction, or the continuation after
    a fully accepted chunk) when it is confident. Up to ``max_num_run`` micro-rounds accumulate before
    the target verifies everything at once: in copy regions every round adds a whole chunk (a long
    draft); in edit regions PLD has nothing or the draft stops being confident (a short draft).

    A draft that keeps disagreeing with the target (an untrained early exit of a small model agrees
    on a few percent of tokens) would only cut good PLD chunks short. So the draft starts on
    probation: it only reads the committed output (one cheap forward per round) and we count how
    often its greedy guess was the target's token, while PLD alone feeds the target. After
    ``DRAFT_PROBATION`` guesses it joins if it guessed at least ``draft_min_acceptance`` of them, and
    is dropped for the rest of the generation as soon as the target accepts less than that share of
    its own tokens. Without the draft the length still adapts: after a fully accepted draft the number
    of PLD chunks per verification doubles (up to ``max_num_run``), after a rejection it drops to one.
    """

    def __init__(
        self,
        draft: DraftModel,
        lookup: PromptLookup,
        prompt_length: int,
        config: SpecConfig,
        costs: tuple[DraftLength, DraftLength] | None = None,
    ) -> None:
        self.draft = draft
        # Lengths from measured costs: PLD straight to the target, and PLD through the draft model.
        self.costs = costs
        self._cost: DraftLength | None = None  # the one asked for the current draft
        self.lookup, self.prompt_length = lookup, prompt_length
        self.chunk, self.max_runs = config.micro_draft_tokens, config.max_num_run
        self.min_prob, self.min_acceptance = config.draft_min_prob, config.draft_min_acceptance
        self.runs = self.max_runs  # PLD-only mode: chunks per verification
        self.judged = self.kept = 0  # the draft's guesses checked against the target's tokens / right
        self._next_guess: int | None = None  # probation: the draft's guess for the token it reads next
        self._segments: list[Segment] = []

    @property
    def forwards(self) -> int:
        return self.draft.forwards

    def close(self) -> None:
        self.draft.close()

    @property
    def on_probation(self) -> bool:
        return self.judged < DRAFT_PROBATION

    @property
    def draft_enabled(self) -> bool:
        return not self.on_probation and self.kept >= self.min_acceptance * self.judged

    def _probe(self, seq: list[int]) -> None:
        """Let the draft read the output it has not seen and score its guesses (prompt excluded).

        The last token stays unread, so that a draft forward always has input once the draft joins.
        """
        fed, end = self.draft.runner.length, len(seq) - 1
        if fed >= end:
            return
        first = max(fed, self.prompt_length)  # first output position judged now
        keep = max(1, end - max(fed, first - 1))  # rows guessing positions first+1 .. end
        predicted = timed_forward(self.draft.runner, seq[fed:end], keep=keep).argmax(dim=-1).tolist()
        guesses = dict(zip(range(end - keep + 1, end + 1), predicted, strict=True))
        if self._next_guess is not None and fed >= self.prompt_length:
            guesses[fed] = self._next_guess
        for position in range(first, end):
            self.judged += 1
            self.kept += guesses[position] == seq[position]
        self._next_guess = predicted[-1]

    def propose(self, seq: list[int], limit: int, cancel: threading.Event | None) -> list[Segment]:
        segments: list[Segment] = []
        drafted: list[int] = []
        if self.on_probation:
            self._probe(seq)
        use_draft = self.draft_enabled
        self._cost = None
        if self.costs is not None:
            use_draft, self._cost, limit = self._route(use_draft, limit)
        for round_ in range(self.max_runs if use_draft else self.runs):
            if len(drafted) >= limit or (round_ and cancel is not None and cancel.is_set()):
                break
            suffix = _generated_tail(seq, self.prompt_length, drafted, self.lookup.max_n)
            chunk = self.lookup.propose(suffix, min(self.chunk, limit - len(drafted)), advance=not round_)
            if not use_draft:
                if not chunk:
                    break
                _append(segments, "lookup", chunk)
                drafted += chunk
                continue
            logits = self.draft.run(seq, drafted, chunk)
            predicted = logits.argmax(dim=-1).tolist()
            agreed = 0
            while agreed < len(chunk) and chunk[agreed] == predicted[agreed]:
                agreed += 1
            self.draft.runner.rollback(self.draft.runner.length - (len(chunk) - agreed))
            if agreed:
                _append(segments, "lookup", chunk[:agreed])
                drafted += chunk[:agreed]
            if len(drafted) >= limit:
                break
            token, p = _top(logits[agreed])
            if p < self.min_prob:
                break
            _append(segments, "draft", [token])
            drafted.append(token)
        self._segments = segments
        return segments

    def _route(self, draft_allowed: bool, limit: int) -> tuple[bool, DraftLength, int]:
        """Through the draft or straight to the target, whichever promises more tokens per second.

        In a copy region PLD alone is accepted whole and the draft's forwards only add time; where
        PLD's chunks get rejected, letting the draft cut them (and add its own tokens) can pay.
        Returns the route, its length policy and the draft length it allows.
        """
        assert self.costs is not None
        direct, through = self.costs
        direct_length = direct.choose(limit)
        if not draft_allowed:
            return False, direct, direct_length
        through_length = through.choose(limit)
        if through.expected_rate(through_length) > direct.expected_rate(direct_length):
            return True, through, through_length
        return False, direct, direct_length

    def commit(self, seq: list[int], old_length: int, accepted: int) -> None:
        self.draft.sync(old_length, accepted)
        self.lookup.extend(seq[old_length:])
        proposed = sum(len(tokens) for _, tokens in self._segments)
        self.runs = min(self.max_runs, self.runs * 2) if accepted == proposed else 1
        if self._cost is not None:
            self._cost.observe(proposed, accepted)
        if not self.draft_enabled:
            return
        left = accepted
        for layer, tokens in self._segments:
            kept = min(len(tokens), left)
            if layer == "draft":
                self.judged += min(len(tokens), left + 1)  # the first rejected token was judged too
                self.kept += kept
            left -= kept
            if kept < len(tokens):
                break  # nothing after the first rejection was judged
