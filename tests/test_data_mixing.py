"""data_pipeline.mixing: each strategy's proportions, UniMax's allocation and the slot assignment,
against numbers worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_pipeline import mixing


def test_proportional_fixed_and_temperature_by_hand():
    assert mixing.proportional([100, 300]).tolist() == [0.25, 0.75]
    assert mixing.fixed([2, 1, 1]).tolist() == [0.5, 0.25, 0.25]
    # T = 2: sqrt(100) = 10, sqrt(400) = 20 -> 1/3, 2/3
    assert mixing.temperature([100, 400], 2.0) == pytest.approx([1 / 3, 2 / 3], abs=1e-15)
    assert mixing.temperature([100, 400], 1.0) == pytest.approx(mixing.proportional([100, 400]), abs=1e-15)
    assert mixing.temperature([1, 10**9], 1e6) == pytest.approx([0.5, 0.5], abs=1e-4)  # T -> inf: uniform
    assert mixing.temperature([10**300, 10**301], 0.5).sum() == pytest.approx(1.0)  # no overflow in log space


def test_unimax_allocation_by_hand():
    # budget 600, at most 2 epochs: 10 -> min(600/3, 20) = 20; 100 -> min(580/2, 200) = 200; 1000 -> 380
    alloc = mixing.unimax_allocation([10, 100, 1000], 600, 2)
    assert alloc.tolist() == [20.0, 200.0, 380.0]
    assert alloc[0] == 2 * 10 and alloc[1] == 2 * 100  # capped at exactly max_epochs passes
    # the tasks' order in the list does not matter, only their sizes
    assert mixing.unimax_allocation([1000, 10, 100], 600, 2).tolist() == [380.0, 20.0, 200.0]
    # nobody capped: a uniform share
    assert mixing.unimax_allocation([100, 200, 300], 90, 1).tolist() == [30.0, 30.0, 30.0]
    assert mixing.unimax([10, 100, 1000], 600, 2) == pytest.approx([20 / 600, 200 / 600, 380 / 600])


def test_unimax_refuses_a_budget_beyond_max_epochs_of_all_data():
    with pytest.raises(ValueError, match=r"budget of 241 slots is more than max_epochs \(2\) passes over all 120"):
        mixing.unimax_allocation([20, 100], 241, 2)
    assert mixing.unimax_allocation([20, 100], 240, 2).tolist() == [40.0, 200.0]


def test_each_task_gets_floor_or_ceil_of_its_slots_in_every_batch():
    for step in range(50):
        assert np.bincount(mixing.slot_tasks(3, step, [0.5, 0.25, 0.25], 4), minlength=3).tolist() == [2, 1, 1]
        counts = np.bincount(mixing.slot_tasks(3, step, [0.6, 0.0, 0.4], 7), minlength=3)
        assert counts[1] == 0 and counts[0] in (4, 5) and counts.sum() == 7  # 7 x 0.6 = 4.2


def test_slot_tasks_is_a_function_of_seed_step_and_proportions():
    p = [0.2, 0.3, 0.5]
    a = mixing.slot_tasks(5, 17, p, 16)
    assert a.tolist() == mixing.slot_tasks(5, 17, p, 16).tolist()
    assert any(mixing.slot_tasks(5, s, p, 16).tolist() != a.tolist() for s in range(18, 22))
    assert any(mixing.slot_tasks(6, 17 + s, p, 16).tolist() != a.tolist() for s in range(4))


@pytest.mark.parametrize("p, slots", [([0.7, 0.2, 0.1], 8), ([0.05, 0.15, 0.3, 0.5], 6), ([1 / 3, 2 / 3], 5)])
def test_realised_counts_stay_within_a_few_slots_of_the_target(p, slots):
    """Independent draws would wander by sqrt(N p (1 - p)) (dozens here); the low-discrepancy
    rounding offsets keep every task within 3 slots of N p over the whole run."""
    steps = 1500
    counts = sum(np.bincount(mixing.slot_tasks(11, s, p, slots), minlength=len(p)) for s in range(steps))
    target = steps * slots * np.asarray(p)
    assert np.abs(counts - target).max() <= 3
    assert np.sqrt(target * (1 - np.asarray(p))).min() > 8  # what sampling error would have been


def test_rounds_to_zero_and_bad_proportions():
    assert mixing.rounds_to_zero([0.5, 0.4996, 4e-4], 1000) == [2]  # 0.4 of a slot
    assert mixing.rounds_to_zero([0.5, 0.4994, 6e-4], 1000) == []  # 0.6 of a slot
    for bad in ([0, 0], [1, -1], [math.nan, 1], []):
        with pytest.raises(ValueError, match="must be finite numbers >= 0, not all 0"):
            mixing.normalised(bad)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        mixing.temperature([1, 2], 0.0)
