"""Every method is plain greedy decoding of the target, token for token, and its events add up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from decoding.engine.config import SpecConfig
from decoding.engine.costs import ForwardCosts
from decoding.engine.loop import DRAFT_LAYERS, edit_stream
from decoding.engine.proposers import DRAFT_PROBATION
from decoding.events import Done, Error, Event, Prefill, Span, Stats
from tests.spec_support import expected_output, greedy_reference, lively_llama, noisy_copy
from tests.tiny_models import make_byte_tokenizer, make_tiny_llama

torch.set_num_threads(1)
TOKENIZER = make_byte_tokenizer()
EOS = TOKENIZER.eos_token_id
REFERENCE_LENGTH = 64
_references: dict[tuple[int, tuple[int, ...]], list[int]] = {}


def reference(seed: int, prompt: tuple[int, ...]) -> list[int]:
    key = (seed, prompt)
    if key not in _references:
        _references[key] = greedy_reference(lively_llama(seed), prompt, REFERENCE_LENGTH)
    return _references[key]


def check_events(events: list[Event]) -> Done:
    """The stream's contract; returns its Done."""
    assert not any(isinstance(e, Error) for e in events), events[-1]
    assert isinstance(events[-1], Done)
    assert sum(isinstance(e, Done) for e in events) == 1
    done = events[-1]
    spans = [e for e in events if isinstance(e, Span)]
    accepted = [s for s in spans if s.accepted]
    assert "".join(s.text for s in accepted) == done.text
    assert tuple(t for s in accepted for t in s.token_ids) == done.token_ids
    assert done.text == TOKENIZER.decode(list(done.token_ids), skip_special_tokens=True)
    stats = done.stats
    assert stats.new_tokens == len(done.token_ids)
    assert stats.chars == len(done.text)
    prefill_forwards = sum(isinstance(e, Prefill) for e in events)
    assert sum(isinstance(e, Stats) for e in events) + prefill_forwards == stats.target_forwards
    for layer in DRAFT_LAYERS:
        assert stats.proposed[layer] == sum(len(s.token_ids) for s in spans if s.layer == layer)
        assert stats.accepted[layer] == sum(len(s.token_ids) for s in accepted if s.layer == layer)
    # Standard metrics: the bonus token is never a draft token; position i is accepted at most as
    # often as position i-1; tokens per draft verification count the bonus.
    assert "target" not in stats.proposed
    assert 0 <= stats.forward_seconds <= stats.elapsed  # forwards are timed within the generation
    assert (stats.forward_seconds > 0) == (stats.target_forwards > 0)
    assert stats.draft_tokens == sum(stats.proposed.values())
    assert sum(stats.accepted_at) == sum(stats.accepted.values())
    assert list(stats.accepted_at) == sorted(stats.accepted_at, reverse=True)
    assert not stats.accepted_at or stats.accepted_at[0] <= stats.drafts <= stats.target_forwards
    assert all(s.token_ids for s in spans if not s.accepted)
    assert all(s.accepted for s in spans if s.layer == "target")
    return done


def run(
    seed: int, prompt: list[int], original: list[int], config: SpecConfig, draft: str = "self", eos: int = EOS
) -> list[Event]:
    target = lively_llama(seed)
    draft_model = {"self": None, "noisy": noisy_copy(seed), "same": target}[draft]
    target.generation_config.eos_token_id = eos
    try:
        return list(edit_stream(target, draft_model, TOKENIZER, prompt, original, config))
    finally:
        target.generation_config.eos_token_id = EOS


def edited(reference_ids: list[int], data: st.DataObject) -> list[int]:
    """An 'original file' the target partly copies: its own output with a few slices changed."""
    kind = data.draw(st.sampled_from(["copy", "edited", "random", "empty"]), label="original")
    if kind == "empty":
        return []
    if kind == "random":
        return data.draw(st.lists(st.integers(0, 255), max_size=80), label="random original")
    out = list(reference_ids)
    if kind == "edited":
        for _ in range(data.draw(st.integers(1, 4), label="edits")):
            i = data.draw(st.integers(0, len(out)), label="at")
            j = data.draw(st.integers(i, min(len(out), i + 8)), label="to")
            out[i:j] = data.draw(st.lists(st.integers(0, 255), max_size=6), label="insert")
    return out


methods = st.sampled_from(["regular", "lookup", "draft", "multilayer"])
prompts = st.lists(st.integers(0, 255), min_size=1, max_size=24)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), method=methods, seed=st.integers(0, 1), prompt=prompts)
def test_every_method_is_greedy(data: st.DataObject, method: str, seed: int, prompt: list[int]) -> None:
    ref = reference(seed, tuple(prompt))
    original = edited(ref, data)
    eos_at = data.draw(st.none() | st.integers(0, REFERENCE_LENGTH - 1), label="eos position")
    eos = EOS if eos_at is None else ref[eos_at]  # EOS wherever the test wants it, e.g. inside a draft
    config = SpecConfig(
        method=method,  # type: ignore[arg-type]
        max_new_tokens=data.draw(st.integers(0, REFERENCE_LENGTH), label="max_new_tokens"),
        max_matching_ngram_size=data.draw(st.integers(1, 6), label="max n"),
        num_lookup_tokens=data.draw(st.integers(1, 30), label="lookup tokens"),
        micro_draft_tokens=data.draw(st.integers(1, 30), label="micro tokens"),
        max_num_run=data.draw(st.integers(1, 4), label="runs"),
        position_aware=data.draw(st.booleans(), label="position aware"),
        early_exit_layers=data.draw(st.integers(1, 3), label="k"),
        num_draft_tokens=data.draw(st.integers(1, 8), label="draft tokens"),
        draft_min_prob=data.draw(st.sampled_from([0.0, 0.3, 0.9]), label="min prob"),
        draft_min_acceptance=data.draw(st.sampled_from([0.0, 0.3, 1.0]), label="min acceptance"),
        cost_policy=data.draw(st.booleans(), label="cost policy"),
    )
    draft = data.draw(st.sampled_from(["self", "noisy", "same"]), label="draft")
    # Any measured costs (a GPU's flat ones, a CPU's steep ones) may only change the draft lengths.
    cost = ForwardCosts(
        {
            1: data.draw(st.floats(0.001, 0.1), label="one-token forward"),
            16: data.draw(st.floats(0.001, 2.0), label="16-token forward"),
        }
    )
    with mock.patch("decoding.engine.loop.forward_cost", return_value=cost):
        events = run(seed, prompt, original, config, draft, eos)
    done = check_events(events)
    assert list(done.token_ids) == expected_output(ref, {EOS, eos}, config.max_new_tokens)
    accepted = [e for e in events if isinstance(e, Span) and e.accepted]
    if done.stop_reason == "eos" and accepted[-1].layer != "target":
        event("EOS accepted inside a draft")
    if any(not e.accepted for e in events if isinstance(e, Span)):
        event("some draft rejected")
    if any(e.layer != "target" for e in accepted):
        event("some draft accepted")
    last = done.token_ids[-1:] if done.token_ids else ()
    want = "eos" if last and last[0] in {EOS, eos} else "max_new_tokens"
    assert done.stop_reason == want
    assert not done.cancelled


def test_copy_of_own_output_is_accepted_in_few_forwards() -> None:
    """The target copying an original it would write anyway: lookup and multilayer take long strides."""
    prompt = [5, 6, 7, 8]
    ref = reference(0, tuple(prompt))
    forwards = {}
    for method in ("regular", "lookup", "multilayer"):
        config = SpecConfig(
            method=method,
            max_new_tokens=60,
            num_lookup_tokens=10,
            micro_draft_tokens=10,
            draft_min_prob=0.0,
            cost_policy=False,  # fixed lengths: the forward counts below do not depend on timing
        )
        done = check_events(run(0, prompt, ref, config, draft="same"))
        assert list(done.token_ids) == expected_output(ref, {EOS}, 60)
        forwards[method] = done.stats.target_forwards
    assert forwards["regular"] == 1 + len(expected_output(ref, {EOS}, 60))  # one prefill forward first
    assert forwards["multilayer"] < forwards["lookup"] < forwards["regular"]


def test_layers_and_acceptance_flags_on_a_partial_copy() -> None:
    """An original that diverges from the output halfway: lookup spans accepted then rejected."""
    prompt = [40, 41, 42]
    ref = reference(1, tuple(prompt))
    original = ref[:20] + [(t + 1) % 256 for t in ref[20:40]]
    config = SpecConfig(method="lookup", max_new_tokens=30, num_lookup_tokens=30, cost_policy=False)
    events = run(1, prompt, original, config)
    done = check_events(events)
    spans = [e for e in events if isinstance(e, Span)]
    first, second, third = spans[:3]
    assert (first.layer, first.accepted, list(first.token_ids)) == ("lookup", True, ref[:20])
    assert (second.layer, second.accepted, list(second.token_ids)) == ("lookup", False, original[20 : 30 - 1])
    assert (third.layer, third.accepted, list(third.token_ids)) == ("target", True, [ref[20]])
    first_stats = next(e for e in events if isinstance(e, Stats))
    assert isinstance(events[0], Prefill)  # the prompt but its last token, read before the first round
    assert events.index(first_stats) == 4  # spans of a round come before its stats
    assert first_stats.proposed["lookup"] == 29 and first_stats.accepted["lookup"] == 20
    assert first_stats.acceptance("lookup") == pytest.approx(20 / 29)
    assert done.stats.target_forwards > 1


@pytest.mark.parametrize(("draft", "joins"), [("unrelated", False), ("same", True)])
def test_multilayer_draft_joins_only_after_guessing_the_output(draft: str, joins: bool) -> None:
    """On probation the draft only reads the output; an unrelated draft never cuts PLD chunks."""
    prompt = [5, 6, 7, 8]
    ref = reference(0, tuple(prompt))
    original = ref[:15] + [1, 2, 3] + ref[15:30] + [4, 5] + ref[30:]
    draft_model = lively_llama(1) if draft == "unrelated" else lively_llama(0)
    config = SpecConfig(
        max_new_tokens=REFERENCE_LENGTH, micro_draft_tokens=6, draft_min_prob=0.0, cost_policy=False
    )
    events = list(edit_stream(lively_llama(0), draft_model, TOKENIZER, prompt, original, config))
    done = check_events(events)
    assert list(done.token_ids) == expected_output(ref, {EOS}, REFERENCE_LENGTH)
    assert len(done.token_ids) > DRAFT_PROBATION + 20  # room for the draft to join
    assert (done.stats.proposed["draft"] > 0) == joins
    assert done.stats.accepted["lookup"] > 0
    if not joins:  # probation over: no more draft forwards
        draft_forwards = [e.draft_forwards for e in events if isinstance(e, Stats)]
        assert draft_forwards[-1] == draft_forwards[len(draft_forwards) // 2] > 0


def _cancel_after(events: Iterator[Event], cancel: threading.Event, stats_seen: int) -> list[Event]:
    out: list[Event] = []
    for item in events:
        out.append(item)
        if isinstance(item, Stats) and sum(isinstance(e, Stats) for e in out) == stats_seen:
            cancel.set()
    return out


@settings(max_examples=30, deadline=None)
@given(method=methods, stop_after=st.integers(1, 6), prompt=prompts)
def test_cancel_ends_with_a_prefix_of_greedy(method: str, stop_after: int, prompt: list[int]) -> None:
    ref = reference(0, tuple(prompt))
    cancel = threading.Event()
    config = SpecConfig(method=method, max_new_tokens=REFERENCE_LENGTH, micro_draft_tokens=4)  # type: ignore[arg-type]
    target = lively_llama(0)
    stream = edit_stream(target, noisy_copy(0), TOKENIZER, prompt, ref[:30], config, cancel)
    events = _cancel_after(stream, cancel, stop_after)
    done = check_events(events)
    expected = expected_output(ref, {EOS}, REFERENCE_LENGTH)
    assert list(done.token_ids) == expected[: len(done.token_ids)]
    if done.cancelled:
        assert done.stop_reason == "cancelled"
        prefill_forwards = sum(isinstance(e, Prefill) for e in events)
        assert done.stats.target_forwards == stop_after + prefill_forwards
    else:  # finished before the cancel could bite
        assert done.token_ids == tuple(expected)


def test_cancel_before_start_yields_empty_done() -> None:
    cancel = threading.Event()
    cancel.set()
    events = list(edit_stream(lively_llama(0), None, TOKENIZER, [1, 2], [], SpecConfig(), cancel))
    done = check_events(events)
    assert done.cancelled and done.token_ids == () and done.stats.target_forwards == 0


def test_out_of_memory_becomes_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    target = make_tiny_llama(0)  # not the shared models: patching leaves an instance attribute

    def boom(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(target, "forward", boom)
    events = list(edit_stream(target, None, TOKENIZER, [1, 2], [], SpecConfig(method="regular")))
    assert len(events) == 1 and isinstance(events[0], Error) and events[0].kind == "oom"


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="prompt_ids"):
        list(edit_stream(lively_llama(0), None, TOKENIZER, [], [], SpecConfig()))
    with pytest.raises(ValueError, match="method"):
        SpecConfig(method="beam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="micro_draft_tokens"):
        SpecConfig(micro_draft_tokens=0)


@pytest.mark.parametrize("method", ["regular", "lookup", "multilayer"])
def test_torch_prefix_reuse_is_lossless(method: str) -> None:
    """A kept torch cache serves a follow-up prompt: only the new tail is prefilled, output as cold."""
    from decoding.engine.kv import CachedModel

    first, second = [5, 6, 7, 8, 9, 10, 11, 12], [5, 6, 7, 8, 9, 40, 41]
    config = SpecConfig(method=method, max_new_tokens=24, draft_min_prob=0.0)  # type: ignore[arg-type]
    ref = reference(0, tuple(second))
    target, draft = CachedModel(lively_llama(0)), CachedModel(noisy_copy(0))
    check_events(list(edit_stream(target, draft, TOKENIZER, first, ref, config)))
    done = check_events(list(edit_stream(target, draft, TOKENIZER, second, ref, config)))
    assert list(done.token_ids) == expected_output(ref, {EOS}, 24)
    assert done.stats.reused_prompt_tokens == 5
