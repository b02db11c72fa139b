"""How long to make a draft, from forward costs measured on this machine (issue #20, point 2).

Speculation trades one verification forward over ``k`` drafted tokens for the tokens it accepts. On a
GPU a forward over 40 tokens costs about what a forward over one does, so long drafts are free. On a
CPU they are not: llama.cpp on one core took 118 ms for one token of Qwen2.5-Coder-1.5B and 47 ms *per
token* in a 32-token batch (docs/benchmarks.md), so a 40-token lookup draft that yields four tokens
costs more than four plain steps; that is why fixed GPU-shaped lengths made lookup 0.62x regular there.

So each model's forward cost is measured once, at its first generation (a few forwards of
:data:`PROBE_SIZES` tokens, rolled back), and refined by every forward the engine then times
(:class:`ForwardCosts`). Before each verification the proposer asks :class:`DraftLength` for the
draft length with the most expected tokens per second, using a running estimate of how often the
layer's tokens are accepted. The choice never changes *which* tokens come out (the target's greedy
choice decides every position), only how many forwards it takes: losslessness is untouched.
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import insort
from collections.abc import Callable, Sequence

import torch

from decoding.engine.lm import LM
from decoding.models.store import ModelError

PROBE_SIZES = (1, 1, 4, 16)  # tokens per probe forward; the first one-token forward may pay setup
PRIOR_ACCEPTED, PRIOR_REJECTED = 1.9, 0.1  # optimistic start (0.95, worth two verifications): try, learn fast
DECAY = 0.8  # weight of the past per verification: the estimate follows copy and edit regions
LEARNING_RATE = 0.3  # weight of a new timing of a forward size already in the table


class ForwardCosts:
    """Seconds one forward over ``n`` new tokens takes, from timings of this model on this machine.

    Not a straight line: llama.cpp on one core ran Qwen2.5-Coder-1.5B at 118 ms for one token and
    about as much *per token* up to 8 tokens (the matrix-vector kernels), then 51 ms per token at 16
    (the batched kernels take over). So the costs are a table of timed sizes, read by linear
    interpolation (and the last segment's slope beyond it), and every forward the engine times
    updates the entry of its size: the sizes a policy actually uses become the best known.
    """

    def __init__(self, seconds_by_size: dict[int, float]) -> None:
        if not seconds_by_size or min(seconds_by_size) < 1:
            raise ValueError("need the timing of at least one forward of >= 1 token")
        self.table = dict(seconds_by_size)
        self._sizes = sorted(self.table)  # kept sorted: read up to a few hundred times per verify

    def seconds(self, n: int) -> float:
        sizes = self._sizes
        if n <= sizes[0]:
            return self.table[sizes[0]] * n / sizes[0]
        for low, high in zip(sizes, sizes[1:], strict=False):
            if n <= high:
                share = (n - low) / (high - low)
                return self.table[low] + share * (self.table[high] - self.table[low])
        last = sizes[-1]
        if len(sizes) == 1:
            return self.table[last] * n / last
        before = sizes[-2]
        slope = max(0.0, (self.table[last] - self.table[before]) / (last - before))
        return self.table[last] + slope * (n - last)

    def record(self, n: int, seconds: float) -> None:
        old = self.table.get(n)
        if old is None:
            insort(self._sizes, n)
        self.table[n] = seconds if old is None else old + LEARNING_RATE * (seconds - old)


FLAT = ForwardCosts({1: 1.0, 2: 1.0})  # length costs nothing: the longest draft always pays
_measured: weakref.WeakKeyDictionary[LM, ForwardCosts] = weakref.WeakKeyDictionary()


_clock = threading.local()  # seconds this thread spent in forwards: a generation runs on one thread


def forward_clock() -> float:
    """Seconds the calling thread has spent in :func:`timed_forward` so far (differences count).

    What a generation spends outside forwards is the engine's own overhead (lookup, detokenizer,
    events, the cost policy): bench reports the share (issue #17, point 7).
    """
    return float(getattr(_clock, "seconds", 0.0))


def _forward_and_time(lm: LM, token_ids: Sequence[int], keep: int) -> tuple[torch.Tensor, float]:
    began = time.perf_counter()
    logits = lm.forward(token_ids, keep)
    if logits.is_cuda:  # kernels run asynchronously: time their end, not their launch
        torch.cuda.synchronize(logits.device)
    return logits, time.perf_counter() - began


def timed_forward(lm: LM, token_ids: Sequence[int], keep: int) -> torch.Tensor:
    """``lm.forward``, its duration added to the thread's forward clock and the model's cost table."""
    logits, seconds = _forward_and_time(lm, token_ids, keep)
    _clock.seconds = forward_clock() + seconds
    costs = _measured.get(lm)
    if costs is not None and costs is not FLAT:
        costs.record(len(token_ids), seconds)
    return logits


def forward_cost(lm: LM, context: Sequence[int]) -> ForwardCosts:
    """The model's cost table (measured now, on first use, after whatever its cache holds).

    The probes feed tokens of ``context`` (real text) after the cached ones and roll them back, so
    the cache and the model's forward count are as before. They take about six one-token forwards
    of time, once per loaded model.
    """
    known = _measured.get(lm)
    if known is not None:
        return known
    forwards, start = lm.forwards, lm.length
    tokens = list(context[-max(PROBE_SIZES) :]) or [0]
    tokens = (tokens * max(PROBE_SIZES))[: max(PROBE_SIZES)]
    timings: dict[int, float] = {}
    try:
        for size in PROBE_SIZES:
            _, seconds = _forward_and_time(lm, tokens[:size], keep=size)
            lm.rollback(start)
            timings[size] = min(seconds, timings.get(size, seconds))
    except ModelError:  # no room left in the context for the probes: verify at any length, as on a GPU
        costs = FLAT
    else:
        costs = ForwardCosts(timings)
    finally:
        lm.forwards = forwards
    _measured[lm] = costs
    return costs


def no_cost(k: int) -> float:
    """A proposer whose drafts cost nothing next to a forward (prompt lookup)."""
    return 0.0


class DraftLength:
    """The draft length with the most expected committed tokens per second of verification.

    Acceptance is modelled per token: each drafted token is kept with probability ``p`` given that
    the ones before it were, so a ``k``-token draft commits ``(1 - p**(k+1)) / (1 - p)`` tokens on
    average (the target's bonus token included) for ``target.seconds(k + 1)`` plus what the proposer
    spends on ``k`` tokens. ``k = 0`` is a plain step.

    ``p`` depends on where the output is: inside a copy of the file a draft after a fully accepted one
    is almost always right, after a rejection (an edit, a re-synchronised lookup) much less. So two
    estimates are kept, one for drafts that follow a fully accepted draft and one for the rest, each a
    decaying count of kept and rejected tokens from an optimistic prior. A plain step pulls the
    estimate back toward the prior, so a layer that stopped drafting in an edit region is tried
    again later.
    """

    def __init__(
        self, target: ForwardCosts, cap: int, proposer_seconds: Callable[[int], float] = no_cost
    ) -> None:
        self.target, self.cap, self.proposer_seconds = target, cap, proposer_seconds
        self.counts = {True: [0.0, 0.0], False: [0.0, 0.0]}  # after a full accept -> [kept, rejected]
        self.in_copy = False  # the last verified draft was accepted whole

    @property
    def acceptance(self) -> float:
        kept, rejected = self.counts[self.in_copy]
        return (kept + PRIOR_ACCEPTED) / (kept + rejected + PRIOR_ACCEPTED + PRIOR_REJECTED)

    def expected_rate(self, k: int) -> float:
        """Expected committed tokens per second with a ``k``-token draft."""
        p = self.acceptance
        committed = (1 - p ** (k + 1)) / (1 - p) if p < 1 else k + 1.0
        spent = self.target.seconds(k + 1) + (self.proposer_seconds(k) if k else 0.0)
        return committed / spent

    def choose(self, available: int) -> int:
        """How many of the ``available`` proposed tokens to verify (0: a plain step pays more)."""
        best, best_rate = 0, self.expected_rate(0)
        for k in range(1, min(self.cap, available) + 1):
            rate = self.expected_rate(k)
            if rate > best_rate:
                best, best_rate = k, rate
        return best

    def observe(self, proposed: int, accepted: int) -> None:
        """A verification kept ``accepted`` of ``proposed`` drafted tokens (0 proposed: a plain step)."""
        counts = self.counts[self.in_copy]
        counts[0] = counts[0] * DECAY + accepted
        counts[1] = counts[1] * DECAY + (1 if accepted < proposed else 0)
        self.in_copy = 0 < proposed == accepted
