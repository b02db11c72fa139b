"""The draft reads the prompt on its own thread, while the target reads it, and never races the engine."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
import torch

from decoding.engine import loop
from decoding.engine.config import SpecConfig
from decoding.engine.kv import CachedModel
from decoding.engine.loop import edit_stream
from decoding.engine.proposers import DraftModel
from decoding.events import Done
from tests.spec_support import expected_output, greedy_reference, lively_llama, noisy_copy
from tests.tiny_models import make_byte_tokenizer

WAIT = 10.0  # seconds a test thread may block before the test fails instead of hanging


class GatedLM:
    """A fake LM whose forwards wait for ``gate``: it shows on which thread, and when, they run."""

    name = "fake"
    reuse_is_exact = True
    vocab_size = 8
    eos_ids = frozenset[int]()

    def __init__(self, fail_at: int | None = None) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.threads: set[str] = set()
        self.forwards = 0
        self._tokens: list[int] = []
        self.fail_at = fail_at

    @property
    def tokens(self) -> list[int]:
        return self._tokens

    @property
    def length(self) -> int:
        return len(self._tokens)

    def forward(self, token_ids: Sequence[int], keep: int) -> torch.Tensor:
        self.started.set()
        if not self.gate.wait(WAIT):
            raise TimeoutError("the test never opened the gate")
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and self.forwards == self.fail_at:
            raise RuntimeError("decode failed")
        self._tokens.extend(token_ids)
        self.forwards += 1
        return torch.zeros(keep, self.vocab_size)

    def rollback(self, length: int) -> None:
        del self._tokens[length:]


def test_the_prompt_is_read_off_the_engine_thread_and_waited_for_on_use() -> None:
    lm = GatedLM()
    prompt = list(range(10))
    draft = DraftModel(lm, prompt, chunk=4)  # returns although no forward can finish yet
    assert lm.started.wait(WAIT)
    lm.gate.set()
    runner = draft.runner  # waits for the read
    assert runner.tokens == prompt[:-1]  # the last prompt token goes with the first draft forward
    assert lm.forwards == 3  # 9 tokens in chunks of 4
    assert lm.threads == {"draft-prompt"}
    assert draft.forwards == 0  # reading the prompt is not drafting
    draft.run(prompt, [], [1, 2])
    assert draft.forwards == 1 and runner.tokens == [*prompt, 1, 2]


def test_without_a_spare_core_the_prompt_waits_for_the_first_use_on_the_engine_thread() -> None:
    lm = GatedLM()
    lm.gate.set()
    prompt = list(range(10))
    draft = DraftModel(lm, prompt, chunk=4, background=False)
    assert lm.forwards == 0 and not any(t.name == "draft-prompt" for t in threading.enumerate())
    assert draft.runner.tokens == prompt[:-1]
    assert lm.threads == {threading.current_thread().name} and lm.forwards == 3
    assert draft.forwards == 0  # reading the prompt is not drafting


def test_a_draft_closed_before_use_never_reads_the_prompt() -> None:
    lm = GatedLM()
    lm.gate.set()
    DraftModel(lm, list(range(10)), chunk=4, background=False).close()
    assert lm.forwards == 0


def test_a_kept_prefix_is_not_read_again() -> None:
    lm = GatedLM()
    lm.gate.set()
    lm.forward(list(range(9)), keep=1)
    DraftModel(lm, list(range(10)), chunk=4).close()
    assert lm.forwards == 1


def test_a_failed_read_raises_where_the_draft_is_used() -> None:
    lm = GatedLM(fail_at=1)
    lm.gate.set()
    draft = DraftModel(lm, list(range(10)), chunk=4)
    with pytest.raises(RuntimeError, match="decode failed"):
        draft.run(list(range(10)), [], [])


def test_close_stops_a_read_under_way_between_chunks() -> None:
    lm = GatedLM()
    draft = DraftModel(lm, list(range(100)), chunk=4)
    assert lm.started.wait(WAIT)
    closer = threading.Thread(target=draft.close)
    closer.start()
    lm.gate.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert lm.forwards < 5  # stopped long before the 25 chunks of the prompt
    count = lm.forwards
    assert not any(t.name == "draft-prompt" for t in threading.enumerate())
    assert lm.forwards == count


@pytest.mark.parametrize("spare_core", [True, False])
@pytest.mark.parametrize("method", ["draft", "multilayer"])
@pytest.mark.parametrize("cancel_at", [0, 1, 3])
def test_background_reads_stay_greedy_and_leave_no_thread(
    method: str, cancel_at: int, spare_core: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Back-to-back generations on one draft (prefix reuse, cancels mid-answer) stay exact and tidy,
    whether the draft reads the prompt beside the target or at its first use."""
    monkeypatch.setattr(loop, "side_by_side", lambda target, draft: spare_core)
    tokenizer = make_byte_tokenizer()
    target, draft = lively_llama(3), CachedModel(noisy_copy(3))
    target_lm = CachedModel(target)
    prompt = list(range(3, 60))
    eos = {tokenizer.eos_token_id, *target_lm.eos_ids}
    reference = expected_output(greedy_reference(target, prompt, 12), eos, 12)
    config = SpecConfig(method=method, max_new_tokens=12, prefill_chunk=8)
    for run in range(3):
        cancel = threading.Event()
        events = edit_stream(target_lm, draft, tokenizer, prompt, prompt, config, cancel)
        done = None
        for i, event in enumerate(events):
            if run == 1 and i == cancel_at:
                cancel.set()
            if isinstance(event, Done):
                done = event
        assert done is not None
        assert list(done.token_ids) == reference[: len(done.token_ids)]
        assert done.cancelled or list(done.token_ids) == reference
        assert not any(t.name == "draft-prompt" for t in threading.enumerate())
