"""The speculation loop: propose, verify with one target forward, accept greedily, emit events.

Every method runs through this one loop (only the proposer differs), so bench compares like with
like and the losslessness argument is made once: the target's greedy choice at every position of the
verified window decides; draft tokens are kept only up to the first disagreement, and the target's
own token at that position (the bonus/correction) is always appended. The output is therefore the
target's plain greedy decoding, token for token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from decoding.engine.config import SpecConfig
from decoding.engine.costs import DraftLength, forward_clock, forward_cost, timed_forward
from decoding.engine.detok import IncrementalDetokenizer
from decoding.engine.kv import CachedModel
from decoding.engine.lm import LM, as_lm, reuse_prefix
from decoding.engine.lookup import PromptLookup
from decoding.engine.proposers import (
    DraftModel,
    LookupDrafter,
    ModelDrafter,
    MultiLayerDrafter,
    NoDraft,
    Proposer,
    Segment,
)
from decoding.events import Done, Error, Event, Layer, Prefill, Span, Stats, StopReason
from decoding.models.cores import side_by_side
from decoding.models.early_exit import early_exit_draft
from decoding.models.store import ModelError

log = logging.getLogger(__name__)


class StopText:
    """Finds the token that completes the stop text (the answer's closing fence) in committed output.

    It decodes only a short window of the latest tokens (enough bytes for the stop text, so a
    multi-byte character split over tokens is whole), so the check costs nothing proportional to the
    output's length. Until the window slides, a newline stands before the output, so an answer that is
    only the closing fence (an emptied file) stops too.
    """

    def __init__(self, tokenizer: object, text: str) -> None:
        self.decode = tokenizer.decode  # type: ignore[attr-defined]
        self.text = text
        self.window = len(text.encode("utf-8")) + 4
        self.recent: list[int] = []
        self.seen = 0

    def scan(self, tokens: Sequence[int]) -> int | None:
        """Index in ``tokens`` of the token completing the stop text, if any."""
        for i, token in enumerate(tokens):
            self.recent = [*self.recent[1 - self.window :], token]
            self.seen += 1
            text = self.decode(self.recent)
            if self.seen <= self.window:
                text = "\n" + text
            if self.text in text:
                return i
        return None


def eos_token_ids(target: LM, tokenizer: object) -> frozenset[int]:
    """EOS ids from the tokenizer and the model's own metadata (chat models often list several)."""
    value = getattr(tokenizer, "eos_token_id", None)
    return target.eos_ids | ({value} if isinstance(value, int) else set())


def _self_draft(target: LM, config: SpecConfig) -> LM:
    """The target's first layers as draft: a torch model only (llama.cpp runs whole graphs)."""
    if not isinstance(target, CachedModel):
        raise ValueError(
            f"the {config.method} method on the {target.name} engine needs a draft model (--draft, e.g. "
            "Qwen2.5-Coder-0.5B for a Qwen2.5-Coder target); the early-exit draft exists only for torch"
        )
    return CachedModel(early_exit_draft(target.model, config.early_exit_layers))


def make_proposer(
    target: LM,
    draft: LM | None,
    context: Sequence[int],
    original_ids: Sequence[int],
    config: SpecConfig,
    cancel: threading.Event | None = None,
) -> Proposer:
    """The method's proposer; with ``cost_policy`` its draft lengths come from measured forward costs.

    ``context`` is the prompt: its length is where the output starts, its tokens feed the cost probes
    (``decoding.engine.costs``), and a draft model starts reading it in the background at once.
    """
    prompt_length = len(context)

    def lookup() -> PromptLookup:
        return PromptLookup(
            original_ids,
            config.min_matching_ngram_size,
            config.max_matching_ngram_size,
            config.position_aware,
        )

    if config.method == "regular":
        return NoDraft()
    target_cost = forward_cost(target, context) if config.cost_policy else None
    if config.method == "lookup":
        length = None if target_cost is None else DraftLength(target_cost, config.num_lookup_tokens)
        return LookupDrafter(lookup(), prompt_length, config.num_lookup_tokens, length)
    draft_model = draft if draft is not None else _self_draft(target, config)
    draft_cost = None if target_cost is None else forward_cost(draft_model, context)
    background = side_by_side(target, draft_model)
    reader = DraftModel(draft_model, context, config.prefill_chunk, cancel, background)
    if config.method == "draft":
        cost = None
        if target_cost is not None and draft_cost is not None:  # one draft forward per drafted token
            cost = DraftLength(target_cost, config.max_draft_tokens, lambda k: k * draft_cost.seconds(1))
        return ModelDrafter(reader, config, cost)
    costs = None
    if target_cost is not None and draft_cost is not None:
        cap = config.micro_draft_tokens * config.max_num_run
        # Through the draft, PLD chunks cost about one draft forward over the chunk.
        costs = (DraftLength(target_cost, cap), DraftLength(target_cost, cap, draft_cost.seconds))
    return MultiLayerDrafter(reader, lookup(), prompt_length, config, costs)


DRAFT_LAYERS: tuple[Layer, ...] = ("lookup", "draft")


@dataclass
class _Tally:
    """Counters with the field's standard meaning (vLLM, llama.cpp): the bonus token is never proposed."""

    proposed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DRAFT_LAYERS, 0))
    accepted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DRAFT_LAYERS, 0))
    drafts: int = 0
    accepted_at: list[int] = field(default_factory=list)
    chars: int = 0

    def verified(self, proposed: int, accepted: int) -> None:
        """One verification of a ``proposed``-token draft whose first ``accepted`` tokens were kept."""
        if not proposed:
            return
        self.drafts += 1
        if len(self.accepted_at) < proposed:
            self.accepted_at.extend([0] * (proposed - len(self.accepted_at)))
        for i in range(accepted):
            self.accepted_at[i] += 1


class _Run:
    """State of one generation; ``events()`` drives it."""

    def __init__(
        self,
        target: LM,
        proposer: Proposer,
        tokenizer: object,
        prompt_ids: Sequence[int],
        config: SpecConfig,
        cancel: threading.Event | None,
    ) -> None:
        self.target = target
        self.forwards_before = target.forwards
        self.reused = reuse_prefix(target, prompt_ids) if config.reuse_prefix else 0
        if not config.reuse_prefix:
            target.rollback(0)
        self.proposer = proposer
        self.detok = IncrementalDetokenizer(tokenizer)
        self.eos = eos_token_ids(target, tokenizer)
        self.stop = StopText(tokenizer, config.stop_text) if config.stop_text else None
        self.seq = list(prompt_ids)
        self.prompt_length = len(self.seq)
        self.config = config
        self.cancel = cancel
        self.tally = _Tally()
        self.text: list[str] = []
        self.start = time.perf_counter()
        self.clock_start = forward_clock()
        self.prefill_seconds = 0.0

    @property
    def generated(self) -> int:
        return len(self.seq) - self.prompt_length

    def stats(self) -> Stats:
        return Stats(
            new_tokens=self.generated,
            chars=self.tally.chars,
            target_forwards=self.target.forwards - self.forwards_before,
            draft_forwards=self.proposer.forwards,
            proposed=dict(self.tally.proposed),
            accepted=dict(self.tally.accepted),
            drafts=self.tally.drafts,
            draft_tokens=sum(self.tally.proposed.values()),
            accepted_at=tuple(self.tally.accepted_at),
            reused_prompt_tokens=self.reused,
            elapsed=time.perf_counter() - self.start,
            prefill_seconds=self.prefill_seconds,
            forward_seconds=forward_clock() - self.clock_start,
        )

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def done(self, reason: StopReason) -> Done:
        return Done(
            text="".join(self.text),
            token_ids=tuple(self.seq[self.prompt_length :]),
            stats=self.stats(),
            cancelled=reason == "cancelled",
            stop_reason=reason,
        )

    def events(self) -> Iterator[Event]:
        if self.config.max_new_tokens > 0 and not (yield from self._prefill()):
            yield self.done("cancelled")
            return
        while True:
            remaining = self.config.max_new_tokens - self.generated
            if remaining <= 0:
                yield self.done("max_new_tokens")
                return
            if self._cancelled():
                yield from self._flush()
                yield self.done("cancelled")
                return
            segments = self.proposer.propose(self.seq, remaining - 1, self.cancel)
            if self._cancelled():
                yield from self._flush()
                yield self.done("cancelled")
                return
            reason = yield from self._verify(segments, remaining)
            yield self.stats()
            if reason is not None:
                yield self.done(reason)
                return

    def _prefill(self) -> Generator[Event, None, bool]:
        """Feed the prompt (all but its last token) in chunks; False if cancelled between chunks.

        A long file then neither blocks a cancel for seconds nor holds a whole-prompt activation in
        memory, and the UI can say how far reading the file has got. The last prompt token goes with
        the first verification, whose logits start the answer.
        """
        end = self.prompt_length - 1
        start = self.target.length
        total = end - start
        while self.target.length < end:
            if self._cancelled():
                return False
            fed = self.target.length
            timed_forward(self.target, self.seq[fed : min(end, fed + self.config.prefill_chunk)], keep=1)
            yield Prefill(self.target.length - start, total)
        return True

    def _verify(self, segments: list[Segment], remaining: int) -> Generator[Event, None, StopReason | None]:
        """One target forward over pending + draft; commit, emit spans; the stop reason if any."""
        draft = [t for _, tokens in segments for t in tokens]
        pending = self.seq[self.target.length :]
        logits = timed_forward(self.target, pending + draft, keep=len(draft) + 1)
        predicted = logits.argmax(dim=-1).tolist()
        if not self.prefill_seconds:
            self.prefill_seconds = time.perf_counter() - self.start
        accepted = 0
        while accepted < len(draft) and draft[accepted] == predicted[accepted]:
            accepted += 1
        self.target.rollback(self.target.length - (len(draft) - accepted))
        new = draft[:accepted] + [predicted[accepted]]
        reason: StopReason | None = None
        for i, token in enumerate(new):
            if token in self.eos:
                new, reason = new[: i + 1], "eos"
                break
        if self.stop is not None and (cut := self.stop.scan(new)) is not None:
            new, reason = new[: cut + 1], "stop"
        if reason is None and len(new) >= remaining:
            new, reason = new[:remaining], "max_new_tokens"
        old_length = len(self.seq)
        kept = min(accepted, len(new))  # draft tokens in the output
        self.tally.verified(len(draft), kept)
        self.seq.extend(new)
        self.proposer.commit(self.seq, old_length, kept)
        yield from self._spans(segments, kept, new[kept:], final=reason is not None)
        return reason

    def _spans(self, segments: list[Segment], kept: int, bonus: list[int], final: bool) -> Iterator[Span]:
        """Accepted draft parts, then the rejected rest (shown where it diverged), then the target's token."""
        accepted: list[tuple[Layer, list[int]]] = []
        rejected: list[tuple[Layer, list[int]]] = []
        left = kept
        for layer, tokens in segments:
            take = min(left, len(tokens))
            left -= take
            if take:
                accepted.append((layer, tokens[:take]))
            if take < len(tokens):
                rejected.append((layer, tokens[take:]))
            self.tally.proposed[layer] += len(tokens)
            self.tally.accepted[layer] += take
        for i, (layer, tokens) in enumerate(accepted):
            yield self._accept(layer, tokens, final and not bonus and i == len(accepted) - 1)
        for layer, tokens in rejected:
            yield Span(self.detok.preview(tokens), tuple(tokens), layer, False)
        if bonus:
            yield self._accept("target", bonus, final)

    def _accept(self, layer: Layer, tokens: list[int], final: bool) -> Span:
        text = self.detok.push(tokens, final=final)
        self.text.append(text)
        self.tally.chars += len(text)
        return Span(text, tuple(tokens), layer, True)

    def _flush(self) -> Iterator[Span]:
        """A cancelled run may end inside a multi-byte character: hand out the held-back text."""
        text = self.detok.flush()
        if text:
            self.text.append(text)
            self.tally.chars += len(text)
            yield Span(text, (), "target", True)


def edit_stream(
    target: LM | torch.nn.Module,
    draft: LM | torch.nn.Module | None,
    tokenizer: object,
    prompt_ids: Sequence[int],
    original_ids: Sequence[int],
    config: SpecConfig,
    cancel: threading.Event | None = None,
) -> Iterator[Event]:
    """Stream the target's greedy continuation of ``prompt_ids``: Prefill, Span and Stats events, then
    Done or Error.

    Args:
        target, draft: engine LMs (torch or llama.cpp, see ``decoding.engine.lm``) or bare transformers
            models (wrapped with a fresh cache). An LM passed again keeps the KV of the prompt prefix
            it shares with its previous generation. ``draft=None`` with the draft or multilayer
            method uses the target's own first layers (torch only; ``decoding.models.early_exit``).
        prompt_ids: the whole prompt, ``[n >= 1]`` token ids.
        original_ids: the file's tokens as they sit in the prompt: prompt lookup's n-gram source.

    Methods after Blazedit (multi-layer PLD -> draft -> target) and SpeCoder (prompt lookup for
    code edits); the draft length adapts with HF's +2/-1 heuristic (``proposers.ModelDrafter``).
    """
    if not prompt_ids:
        raise ValueError("prompt_ids must not be empty")
    try:
        target_lm = as_lm(target)
        draft_lm = as_lm(draft) if draft is not None else None
        if draft_lm is not None and config.reuse_prefix:
            reuse_prefix(draft_lm, prompt_ids)
        elif draft_lm is not None:
            draft_lm.rollback(0)
        proposer = make_proposer(target_lm, draft_lm, prompt_ids, original_ids, config, cancel)
        try:
            run = _Run(target_lm, proposer, tokenizer, prompt_ids, config, cancel)
            yield from run.events()
        finally:
            proposer.close()  # the draft's cache is free again before anyone reuses it
    except torch.OutOfMemoryError as exc:
        yield Error(f"out of memory: {exc}", kind="oom")
    except ModelError as exc:  # the backend refused: context too small, a failed llama.cpp decode
        yield Error(str(exc), kind="model")
    except Exception as exc:  # the stream contract: always end with Done or Error
        log.exception("generation failed")
        yield Error(f"{type(exc).__name__}: {exc}")
