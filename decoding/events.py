"""Events streamed by every edit backend (local speculation or a remote server).

The engine is a generator of these events so that the TUI, ``specedit edit`` and ``specedit bench``
share one code path; they are plain frozen dataclasses so that they can cross thread boundaries
(worker -> UI) without copying or locking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.errors import BackendFailure, ProposalRefused, SpeceditError

Layer = Literal["lookup", "draft", "target"]
# Why a generation ended: the model's end token, the stop text (closing fence), the token budget, the
# user, an edit-cache hit, or a server's own reason (e.g. "content_filter").
StopReason = Literal["eos", "stop", "max_new_tokens", "cancelled", "cached", "remote"]
LAYERS: tuple[Layer, ...] = ("lookup", "draft", "target")


@dataclass(frozen=True)
class Span:
    """A run of tokens proposed by one layer.

    ``accepted=False`` spans are drafts the target rejected: they are *not* part of the output and
    are reported only so the UI can show the speculation (dimmed / struck through). The output text
    is exactly the concatenation of the accepted spans' ``text``.
    """

    text: str
    token_ids: tuple[int, ...]
    layer: Layer
    accepted: bool


@dataclass(frozen=True)
class Stats:
    """Running totals; the engine emits one after every target forward and one before ``Done``."""

    new_tokens: int = 0
    chars: int = 0
    target_forwards: int = 0
    draft_forwards: int = 0
    proposed: dict[str, int] = field(default_factory=dict)  # draft tokens proposed per layer (no bonus)
    accepted: dict[str, int] = field(default_factory=dict)  # of those, tokens accepted per layer
    drafts: int = 0  # verifications with a non-empty draft (vLLM's num_drafts)
    draft_tokens: int = 0  # tokens in those drafts (the target's bonus token is not one)
    accepted_at: tuple[int, ...] = ()  # [i]: drafts whose token i was accepted (per-position acceptance)
    reused_prompt_tokens: int = 0  # prompt tokens whose KV came from the previous generation
    elapsed: float = 0.0  # seconds of generation, prompt prefill included
    prefill_seconds: float = 0.0
    forward_seconds: float = 0.0  # of ``elapsed``, time inside target and draft forwards (the rest: Python)
    cached: bool = False  # answered from the accepted-edit cache, no model run
    remote_accepted_prediction_tokens: int | None = None  # OpenAI "predicted outputs" usage
    remote_rejected_prediction_tokens: int | None = None

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def chars_per_s(self) -> float:
        return self.chars / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def tokens_per_target_forward(self) -> float:
        return self.new_tokens / self.target_forwards if self.target_forwards else 0.0

    @property
    def mean_acceptance_length(self) -> float:
        """Tokens per verification with a draft, the bonus included (vLLM/llama.cpp: 1 + accepted/drafts)."""
        return 1 + sum(self.accepted_at) / self.drafts if self.drafts else 1.0

    def acceptance(self, layer: str) -> float | None:
        """Fraction of this layer's proposed tokens that the target accepted (None if it proposed none)."""
        proposed = self.proposed.get(layer, 0)
        return self.accepted.get(layer, 0) / proposed if proposed else None


@dataclass(frozen=True)
class Prefill:
    """The engine is reading the prompt (mostly the file) before the first token: ``done`` of ``total``."""

    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class Done:
    """Generation finished (EOS, budget, or cancellation). ``text`` is the raw model output."""

    text: str
    token_ids: tuple[int, ...]
    stats: Stats
    cancelled: bool = False
    stop_reason: StopReason = "eos"


# Error kinds that mean "the model answered, but the answer must not reach the file"; every other kind
# ("load", "oom", "network", "auth", "timeout", "server", ...) is the model or the server failing.
PROPOSAL_REFUSAL_KINDS = frozenset({"merge", "refused", "budget", "no-code"})


@dataclass(frozen=True)
class Error:
    """A failure the user must see; the stream ends after it and nothing was applied."""

    message: str
    kind: str = "error"  # e.g. "load", "oom", "network", "auth", "timeout", "server", "merge"

    def as_exception(self) -> SpeceditError:
        """The same failure as an exception, so a command exits with the code of its kind."""
        if self.kind in PROPOSAL_REFUSAL_KINDS:
            return ProposalRefused(self.message)
        return BackendFailure(self.message)


Event = Span | Stats | Prefill | Done | Error
