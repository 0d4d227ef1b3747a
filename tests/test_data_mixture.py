"""TaskMixSampler and ProportionalSampler: realised mix, geometry independence, exact resume,
per-task permutations, set_proportions, and proportional's order identical to GlobalBatchSampler."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline import (DataError, GlobalBatchSampler, ProportionalSampler, TaskMixSampler, TokenizedSplit,
                           plan_rows, plan_task_rows)
from data_pipeline import mixing
from test_data_samplers import global_step

ROW_TASK = np.repeat([0, 1, 2], [40, 11, 3])  # a large, a middle and a tiny task (3 rows)


def mixers(world: int, mbs: int, accum: int, p=(0.5, 0.3, 0.2), row_task=ROW_TASK, **kw) -> list[TaskMixSampler]:
    return [TaskMixSampler(row_task, int(row_task.max()) + 1, p, world_size=world, rank=r, micro_batch_size=mbs,
                           grad_accum=accum, seed=7, label="fixed", **kw) for r in range(world)]


def test_union_over_ranks_is_the_global_batch_and_the_mix_is_the_target():
    ranks = mixers(2, 2, 2)
    rows = [global_step(ranks) for _ in range(400)]
    tasks = ROW_TASK[np.array(rows)]
    counts = np.bincount(tasks.ravel(), minlength=3)
    assert np.abs(counts - 400 * 8 * np.array([0.5, 0.3, 0.2])).max() <= 3  # sampling error alone: ~25
    assert ranks[0].cursors.tolist() == ranks[1].cursors.tolist() == counts.tolist()
    assert ranks[0].realised_proportions == pytest.approx([0.5, 0.3, 0.2], abs=1e-3)
    assert ranks[0].task_epochs.tolist() == (counts / [40, 11, 3]).tolist()


def test_each_task_draws_its_rows_from_its_own_permutation_epoch_after_epoch():
    sampler = mixers(1, 4, 1)[0]
    drawn = {k: [] for k in range(3)}
    for _ in range(200):
        for row in global_step([sampler]):
            drawn[int(ROW_TASK[row])].append(row)
    for k, size in ((0, 40), (1, 11), (2, 3)):
        rows = np.flatnonzero(ROW_TASK == k).tolist()
        passes = [drawn[k][i:i + size] for i in range(0, len(drawn[k]) - size + 1, size)]
        assert len(passes) >= 4
        assert all(sorted(p) == rows for p in passes)  # every row once per pass
        assert len({tuple(p) for p in passes}) > 1  # a new order each pass
    assert sampler.epoch == 200 * 4 // 54


def test_geometries_with_equal_global_batch_see_the_same_batches():
    one = mixers(1, 2, 2)
    two = mixers(2, 2, 1)
    four = mixers(4, 1, 1)
    for _ in range(60):  # the tiny task wraps many times
        batch = global_step(one)
        assert global_step(two) == batch == global_step(four)


def test_resume_mid_epoch_of_the_tiny_task_is_exact():
    straight = mixers(2, 2, 2)
    expected = [global_step(straight) for _ in range(30)]
    first = mixers(2, 2, 2)
    head = [global_step(first) for _ in range(13)]
    assert first[0].cursors[2] % 3 != 0  # stopped inside a pass over the tiny task
    resumed = mixers(2, 2, 2, p=(1, 1, 1))  # the saved proportions win over the constructor's
    for sampler, old in zip(resumed, first):
        sampler.load_state_dict(old.state_dict())
    assert head + [global_step(resumed) for _ in range(17)] == expected
    assert resumed[0].task_samples.tolist() == straight[0].task_samples.tolist()
    regrouped = mixers(1, 4, 2)  # another world size with the same global batch
    regrouped[0].load_state_dict(first[0].state_dict())
    assert [global_step(regrouped) for _ in range(17)] == expected[13:]


def test_resume_with_other_settings_fails_clearly():
    state = mixers(2, 2, 2)[0].state_dict()
    with pytest.raises(DataError, match=r"global_batch_size was 8 when saved and is 12 now"):
        mixers(3, 2, 2)[0].load_state_dict(state)
    with pytest.raises(DataError, match=r"task_rows was \[40, 11, 3\] when saved and is \[40, 11, 4\] now"):
        mixers(2, 2, 2, row_task=np.repeat([0, 1, 2], [40, 11, 4]))[0].load_state_dict(state)
    proportional = ProportionalSampler(GlobalBatchSampler(54, world_size=2, rank=0, micro_batch_size=2, grad_accum=2,
                                                          seed=7), [[i] for i in range(54)], ROW_TASK, 3)
    with pytest.raises(DataError, match=r"written with data.mixing.strategy 'fixed', this run uses 'proportional'"):
        proportional.load_state_dict(state)
    with pytest.raises(DataError, match=r"written with data.mixing.strategy 'proportional', this run uses 'fixed'"):
        mixers(2, 2, 2)[0].load_state_dict(proportional.state_dict())


def test_set_proportions_at_a_step_boundary_with_zeros_and_checkpointed():
    ranks = mixers(2, 2, 2)
    for _ in range(5):
        global_step(ranks)
    with pytest.raises(ValueError, match=r"step 5 is not the next step \(6\)"):
        ranks[0].set_proportions(5, [1, 1, 0])
    for sampler in ranks:
        sampler.set_proportions(6, [3, 1, 0])  # retire the tiny task from step 6 on
    tiny_before = ranks[0].cursors[2]
    for _ in range(50):
        assert all(ROW_TASK[r] != 2 for r in global_step(ranks))
    assert ranks[0].cursors[2] == tiny_before
    assert ranks[0].proportions.tolist() == [0.75, 0.25, 0.0]
    state = ranks[0].state_dict()
    assert state["proportions"] == [0.75, 0.25, 0.0] and state["proportions_from"] == 6
    resumed = mixers(1, 4, 2)[0]
    resumed.load_state_dict(state)
    assert resumed.proportions.tolist() == [0.75, 0.25, 0.0]
    with pytest.raises(ValueError, match="not all 0"):
        resumed.set_proportions(56, [0, 0, 0])


def test_unimax_run_spends_its_budget_within_the_caps():
    """A run of exactly the budget: the capped tasks end at max_epochs passes (to 3 slots of
    rounding), the rest share what they left."""
    row_task = np.repeat([0, 1, 2], [10, 100, 1000])
    steps, g = 75, 8
    p = mixing.unimax([10, 100, 1000], steps * g, 2)  # allocation 20, 200, 380
    sampler = mixers(1, 4, 2, p=p, row_task=row_task)[0]
    for _ in range(steps):
        sampler.next_step()
    assert np.abs(sampler.cursors - [20, 200, 380]).max() <= 3
    assert sampler.task_epochs[:2] == pytest.approx([2.0, 2.0], abs=0.3)


def test_proportional_is_todays_global_batch_sampler_order():
    split = TokenizedSplit.from_samples([(np.arange(n, dtype=np.int32), np.ones(n, dtype=np.uint8))
                                         for n in np.random.default_rng(0).integers(2, 40, 90)],
                                        np.repeat([0, 1, 2], [60, 25, 5]), num_tasks=3)
    rows = plan_rows(split, "pack", 64, seed=1)
    today = GlobalBatchSampler(len(rows), world_size=1, rank=0, micro_batch_size=3, grad_accum=1, seed=1,
                               drop_last=False)
    wrapped = ProportionalSampler(GlobalBatchSampler(len(rows), world_size=1, rank=0, micro_batch_size=3,
                                                     grad_accum=1, seed=1, drop_last=False), rows, split.task_ids, 3)
    per_epoch = today.steps_per_epoch
    assert [today.next_step() for _ in range(3 * per_epoch)] == [wrapped.next_step() for _ in range(3 * per_epoch)]
    assert wrapped.task_samples.tolist() == [180, 75, 15]  # three whole epochs
    assert wrapped.state_dict() == today.state_dict()  # old checkpoints resume
    for _ in range(2):
        wrapped.next_step()
    resumed = ProportionalSampler(GlobalBatchSampler(len(rows), world_size=1, rank=0, micro_batch_size=3,
                                                     grad_accum=1, seed=1, drop_last=False), rows, split.task_ids, 3)
    resumed.load_state_dict(wrapped.state_dict())
    assert resumed.task_samples.tolist() == wrapped.task_samples.tolist()
    assert resumed.proportions.tolist() == [60 / 90, 25 / 90, 5 / 90]
    with pytest.raises(DataError, match="use a per-task strategy"):
        resumed.set_proportions(1, [1, 1, 0])


def test_pack_mode_per_task_rows_hold_one_task_and_every_sample_once():
    lengths = np.random.default_rng(1).integers(3, 50, 300)
    tasks = np.random.default_rng(2).integers(0, 3, 300)
    split = TokenizedSplit.from_samples([(np.arange(n, dtype=np.int32), np.ones(n, dtype=np.uint8)) for n in lengths],
                                        tasks, num_tasks=3)
    rows, row_task = plan_task_rows(split, "pack", 64, seed=0)
    assert sorted(s for row in rows for s in row) == list(range(300))
    assert all({int(tasks[s]) for s in row} == {int(row_task[r])} for r, row in enumerate(rows))
    assert all(lengths[row].sum() <= 64 for row in rows)
    fill = lengths.sum() / (64 * len(rows))
    assert fill > 0.9
    padding_rows, padding_task = plan_task_rows(split, "padding", 64, seed=0)
    assert padding_rows == [[i] for i in range(300)] and padding_task.tolist() == tasks.tolist()
