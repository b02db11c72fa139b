"""The closing-fence stop: every method stops at the same token, the one completing the stop text."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from decoding.engine.config import SpecConfig
from decoding.engine.loop import StopText
from tests.test_speculate import EOS, REFERENCE_LENGTH, TOKENIZER, check_events, reference, run

torch.set_num_threads(1)


def expected_stop(ref: list[int], stop: str) -> list[int]:
    """Independent reference: the shortest prefix whose text (after a leading newline) holds ``stop``."""
    for i in range(len(ref)):
        if stop in "\n" + TOKENIZER.decode(ref[: i + 1]):
            return ref[: i + 1]
    return ref


def test_stop_text_finds_the_completing_token():
    ids = TOKENIZER("x = 1\n```\nchatter", add_special_tokens=False)["input_ids"]
    stop = StopText(TOKENIZER, "\n```\n")
    assert stop.scan(ids[:5]) is None
    assert stop.scan(ids[5:]) == len("\n```\n") - 1  # the newline after the fence, counted from ids[5]
    empty = StopText(TOKENIZER, "\n```\n")
    assert empty.scan(TOKENIZER("```\nx", add_special_tokens=False)["input_ids"]) == 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["regular", "lookup", "draft", "multilayer"]),
    seed=st.integers(0, 1),
    prompt=st.lists(st.integers(0, 255), min_size=1, max_size=16),
    data=st.data(),
)
def test_every_method_stops_where_greedy_would(method, seed, prompt, data):
    ref = reference(seed, tuple(prompt))
    text = TOKENIZER.decode(ref)
    start = data.draw(st.integers(0, max(0, len(text) - 2)), label="stop at")
    stop = text[start : start + data.draw(st.integers(1, 3), label="stop length")] or "\x00never"
    assume("\ufffd" not in stop)  # stop texts are real text; U+FFFD only stands for broken bytes
    config = SpecConfig(
        method=method,
        max_new_tokens=REFERENCE_LENGTH,
        stop_text=stop,
        num_lookup_tokens=20,
        micro_draft_tokens=8,
    )
    events = run(seed, prompt, list(ref), config, data.draw(st.sampled_from(["self", "same"]), label="draft"))
    done = check_events(events)
    want = expected_stop(ref, stop)
    want = want[: next((i + 1 for i, t in enumerate(want) if t == EOS), len(want))]
    assert list(done.token_ids) == want
    if stop in "\n" + TOKENIZER.decode(want) and EOS not in want:
        assert done.stop_reason == "stop"
