"""The edit cache is keyed on what decides the answer, never on a display string (issue #12, item 6)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from decoding.backends.local import LocalBackend
from decoding.backends.openai_compat import OpenAIBackend
from decoding.engine.config import SpecConfig
from decoding.models.identity import model_identity
from decoding.models.load import load_models
from decoding.personal.cache import EditCache
from decoding.request import EditRequest
from decoding.session import Proposal, propose_edit
from tests.scripted_backend import ScriptedBackend

REQUEST = EditRequest(path="m.py", original="x = 1\n", instruction="rename x to y")


@dataclass
class Relabelled(ScriptedBackend):
    """A backend whose display line and model can change while it lives, like a real one's."""

    label: str = "first label"
    model: str = "model-a"

    def describe(self) -> str:
        return self.label

    def identity(self) -> str:
        return self.model


def proposal_of(backend: ScriptedBackend, cache: EditCache) -> Proposal:
    proposals = [e for e in propose_edit(backend, REQUEST, "whole", cache=cache) if isinstance(e, Proposal)]
    assert len(proposals) == 1
    return proposals[0]


def accept(backend: ScriptedBackend, cache: EditCache) -> None:
    """What ``apply_proposal`` does with an accepted proposal."""
    proposal = proposal_of(backend, cache)
    assert not proposal.stats.cached and proposal.cache_identity is not None
    cache.put(REQUEST, proposal.cache_identity, proposal.new_text)


def test_a_describe_change_still_hits() -> None:
    backend = Relabelled(answers=["y = 1\n```\n"])
    cache = EditCache()
    accept(backend, cache)
    backend.label = "model-a via server (OpenAI-compatible)"  # e.g. predicted outputs were refused
    again = proposal_of(backend, cache)
    assert again.stats.cached and again.new_text == "y = 1\n"
    assert len(backend.requests) == 1  # no second model run


def test_a_model_change_misses() -> None:
    backend = Relabelled(answers=["y = 1\n```\n"])
    cache = EditCache()
    accept(backend, cache)
    backend.model = "model-b"
    assert not proposal_of(backend, cache).stats.cached
    assert len(backend.requests) == 2


def test_a_format_change_misses() -> None:
    backend = Relabelled(answers=["y = 1\n```\n"])
    cache = EditCache()
    accept(backend, cache)
    events = list(propose_edit(backend, REQUEST, "auto", cache=cache))
    assert not any(isinstance(e, Proposal) and e.stats.cached for e in events)


def test_openai_identity_survives_a_refused_prediction() -> None:
    backend = OpenAIBackend(base_url="http://127.0.0.1:9/v1", model="coder", max_tokens=100)
    before = (backend.describe(), backend.identity())
    backend._prediction_accepted = False  # what a server refusing predicted outputs leaves behind
    assert backend.describe() != before[0]
    assert backend.identity() == before[1]
    assert OpenAIBackend(base_url="http://127.0.0.1:9/v1", model="other").identity() != before[1]


def test_local_identity_follows_weights_precision_and_budget(tiny_model_dir: Path) -> None:
    first = load_models(str(tiny_model_dir), device="cpu", dtype="float32")
    again = load_models(str(tiny_model_dir), device="cpu", dtype="float32")
    assert model_identity(first) == model_identity(again)
    bf16 = load_models(str(tiny_model_dir), device="cpu", dtype="bfloat16")
    assert model_identity(bf16) != model_identity(first)
    lookup = LocalBackend(first, SpecConfig(method="lookup"))
    assert lookup.identity() == LocalBackend(first, SpecConfig(method="regular")).identity()  # speed only
    assert LocalBackend(first, SpecConfig(method="lookup"), 64).identity() != lookup.identity()

    weights = next(tiny_model_dir.glob("*.safetensors"))
    stat = weights.stat()
    try:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # new weights on disk
        reloaded = load_models(str(tiny_model_dir), device="cpu", dtype="float32")
        assert LocalBackend(reloaded, SpecConfig(method="lookup")).identity() != lookup.identity()
    finally:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_the_draft_is_not_part_of_the_identity(tiny_model_dir: Path) -> None:
    """Every method is lossless: a draft changes how fast the target's answer comes, not the answer."""
    plain = load_models(str(tiny_model_dir), device="cpu", dtype="float32")
    with_draft = load_models(str(tiny_model_dir), str(tiny_model_dir), device="cpu", dtype="float32")
    assert with_draft.draft is not None
    assert model_identity(plain) == model_identity(with_draft)
