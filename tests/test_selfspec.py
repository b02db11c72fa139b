"""The early-exit draft shares the target's weights but not its cache; cache rollback semantics."""

from __future__ import annotations

import pytest
import torch

from decoding.engine.kv import CachedModel
from decoding.models.early_exit import default_exit_layers, early_exit_draft
from tests.spec_support import lively_llama

torch.set_num_threads(1)
IDS = [3, 1, 4, 1, 5, 9, 2, 6]


def test_draft_is_the_first_layers_plus_norm_and_head() -> None:
    target = lively_llama(0)
    draft = early_exit_draft(target, 2)
    with torch.inference_mode():
        hidden = target(torch.tensor([IDS]), output_hidden_states=True).hidden_states[2]
        expected = target.lm_head(target.model.norm(hidden))[0]
        got = CachedModel(draft).forward(IDS, keep=len(IDS))
    torch.testing.assert_close(got, expected)


def test_draft_shares_weights_and_leaves_the_target_whole() -> None:
    target = lively_llama(0)
    draft = early_exit_draft(target, 1)
    target_params = {id(p) for p in target.parameters()}
    assert {id(p) for p in draft.parameters()} <= target_params
    assert draft.lm_head is target.lm_head and draft.model.norm is target.model.norm
    assert len(target.model.layers) == target.config.num_hidden_layers == 4
    assert len(draft.model.layers) == draft.config.num_hidden_layers == 1


def test_draft_forwards_do_not_touch_the_target_cache() -> None:
    target = lively_llama(0)
    runner = CachedModel(target)
    with torch.inference_mode():
        runner.forward(IDS[:4], keep=1)
        before = [layer.keys.clone() for layer in runner.cache.layers]
        CachedModel(early_exit_draft(target, 2)).forward(IDS, keep=1)
        after = runner.forward(IDS[4:], keep=4)
    kept = [layer.keys[..., :4, :] for layer in runner.cache.layers]
    assert all(torch.equal(b, k) for b, k in zip(before, kept, strict=True))
    fresh = CachedModel(target).forward(IDS, keep=4)
    # cached vs one-pass: other kernel shapes, so float32 rounding differs (1.1e-5 seen after other tests)
    torch.testing.assert_close(after, fresh, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("k", [0, 4, 9])
def test_exit_layer_out_of_range_is_refused(k: int) -> None:
    with pytest.raises(ValueError, match="early_exit_layers"):
        early_exit_draft(lively_llama(0), k)


def test_default_exit_layer() -> None:
    assert default_exit_layers(30) >= 1
    assert 1 <= default_exit_layers(2) < 2
    assert early_exit_draft(lively_llama(0)).config.num_hidden_layers == default_exit_layers(4)


def test_crop_removes_the_given_number_of_tokens() -> None:
    """transformers 5.x: ``DynamicCache.crop`` takes minus the count to drop; rollback wraps it."""
    runner = CachedModel(lively_llama(1))
    runner.forward(IDS, keep=1)
    runner.rollback(5)
    assert runner.length == runner.cache.get_seq_length() == 5
    again = runner.forward([7, 7], keep=2)
    fresh = CachedModel(lively_llama(1)).forward(IDS[:5] + [7, 7], keep=2)
    torch.testing.assert_close(again, fresh)
    runner.rollback(9)  # nothing beyond the end: no-op
    assert runner.length == 7
    with pytest.raises(ValueError):
        runner.rollback(-1)
