"""Draft lengths from measured forward costs: the choice follows the costs and the acceptance seen."""

from __future__ import annotations

import pytest
import torch

from decoding.engine.costs import DraftLength, ForwardCosts, forward_cost, timed_forward
from decoding.engine.kv import CachedModel
from tests.spec_support import lively_llama

GPU_LIKE = ForwardCosts({1: 0.020, 41: 0.024})  # a 40-token verify costs about one step
# llama.cpp, Qwen2.5-Coder-1.5B, one core (docs/benchmarks.md): matrix-vector kernels up to 8 tokens.
CPU_LIKE = ForwardCosts({1: 0.118, 4: 0.467, 16: 0.820, 48: 2.19})


def test_flat_costs_verify_the_whole_draft() -> None:
    assert DraftLength(ForwardCosts({1: 0.02, 64: 0.02}), cap=40).choose(40) == 40
    assert DraftLength(GPU_LIKE, cap=40).choose(40) > DraftLength(CPU_LIKE, cap=40).choose(40)


def test_steep_costs_verify_a_short_draft_and_never_more_than_offered() -> None:
    length = DraftLength(CPU_LIKE, cap=40)
    chosen = length.choose(40)
    assert 1 <= chosen < 40
    assert length.choose(2) <= 2


def test_rejections_shrink_the_draft_to_a_plain_step_and_the_prior_brings_it_back() -> None:
    length = DraftLength(CPU_LIKE, cap=40)
    before = length.choose(40)
    for _ in range(10):
        length.observe(length.choose(40) or 1, 0)
    assert length.acceptance < 0.4
    assert length.choose(40) == 0  # a plain step pays more than a draft that is always rejected
    for _ in range(20):  # plain steps: nothing judged, the estimate relaxes to the prior
        length.observe(0, 0)
    assert 0 < length.choose(40) <= before


def test_acceptance_lengthens_the_draft() -> None:
    length = DraftLength(CPU_LIKE, cap=40)
    before = length.choose(40)
    for _ in range(10):
        chosen = length.choose(40)
        length.observe(chosen, chosen)
    assert length.acceptance > 0.95
    assert length.choose(40) > before


def test_the_proposers_own_cost_counts() -> None:
    free = DraftLength(CPU_LIKE, cap=40)
    costly = DraftLength(CPU_LIKE, cap=40, proposer_seconds=lambda k: 0.046 * k)  # 0.5B draft steps
    assert costly.choose(40) < free.choose(40)


def test_probe_leaves_the_cache_and_the_forward_count_as_they_were() -> None:
    lm = CachedModel(lively_llama(0))
    prompt = list(range(5, 25))
    lm.forward(prompt, keep=1)
    expected = lm.forward([30], keep=1)
    lm.rollback(len(prompt))
    before = (list(lm.tokens), lm.forwards)
    cost = forward_cost(lm, prompt)
    assert set(cost.table) == {1, 4, 16} and all(seconds > 0 for seconds in cost.table.values())
    assert (lm.tokens, lm.forwards) == before
    torch.testing.assert_close(lm.forward([30], keep=1), expected, rtol=0, atol=0)
    assert forward_cost(lm, prompt) is cost  # measured once per model


@pytest.mark.parametrize("cost", [GPU_LIKE, CPU_LIKE])
def test_rate_of_a_plain_step_is_one_token_per_step(cost: ForwardCosts) -> None:
    assert DraftLength(cost, cap=8).expected_rate(0) == pytest.approx(1 / cost.seconds(1))


def test_costs_interpolate_between_timed_sizes_and_extend_the_last_slope() -> None:
    costs = ForwardCosts({1: 1.0, 5: 3.0, 9: 4.0})
    assert [costs.seconds(n) for n in (1, 3, 5, 7, 9, 13)] == [1.0, 2.0, 3.0, 3.5, 4.0, 5.0]


def test_timed_forwards_update_the_table_of_a_measured_model() -> None:
    lm = CachedModel(lively_llama(0))
    costs = forward_cost(lm, [5, 6, 7])
    assert 5 not in costs.table
    timed_forward(lm, [1, 2, 3, 4, 5], keep=1)
    assert 5 in costs.table and costs.seconds(5) == costs.table[5]  # a new size joins the table
    before = costs.table[5]
    costs.record(5, before + 10.0)
    assert before < costs.table[5] < before + 10.0  # a new timing moves the entry, not replaces it
