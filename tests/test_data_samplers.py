"""GlobalBatchSampler, StratifiedValidSampler and shard_rows."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline import DataError, GlobalBatchSampler, StratifiedValidSampler, shard_rows
from data_pipeline.samplers import length_grouped


def samplers(num_rows: int, world: int, mbs: int, accum: int, **kw) -> list[GlobalBatchSampler]:
    kw.setdefault("seed", 3)
    return [
        GlobalBatchSampler(num_rows, world_size=world, rank=r, micro_batch_size=mbs, grad_accum=accum, **kw)
        for r in range(world)
    ]


def global_step(ranks: list[GlobalBatchSampler]) -> list:
    """One step of all ranks, flattened in global position order (micro-batch, rank, slot)."""
    per_rank = [s.next_step() for s in ranks]
    for micro in per_rank:
        assert len(micro) == ranks[0].grad_accum and all(len(m) == ranks[0].micro_batch_size for m in micro)
    return [row for a in range(ranks[0].grad_accum) for micro in per_rank for row in micro[a]]


def test_union_over_ranks_is_the_global_slice():
    ranks = samplers(50, world=2, mbs=3, accum=2)
    order = np.random.default_rng([3, 0]).permutation(50)
    assert ranks[0].steps_per_epoch == 4
    for step in range(4):
        assert global_step(ranks) == order[step * 12 : (step + 1) * 12].tolist()
    assert global_step(ranks) == np.random.default_rng([3, 1]).permutation(50)[:12].tolist()  # epoch 1
    assert (ranks[0].epoch, ranks[0].step_in_epoch) == (1, 1)


def test_geometries_with_equal_global_batch_see_the_same_batches():
    one_rank = samplers(40, world=1, mbs=2, accum=2)
    two_ranks = samplers(40, world=2, mbs=2, accum=1)
    for _ in range(25):  # crosses epochs (10 steps each)
        assert global_step(one_rank) == global_step(two_ranks)


def test_resume_continues_identically():
    straight = samplers(30, world=2, mbs=2, accum=2)
    expected = [global_step(straight) for _ in range(20)]
    first = samplers(30, world=2, mbs=2, accum=2)
    seen = [global_step(first) for _ in range(9)]  # stops mid-epoch 1 (7 steps per epoch)
    resumed = samplers(30, world=2, mbs=2, accum=2)
    for sampler, old in zip(resumed, first):
        sampler.load_state_dict(old.state_dict())
    assert seen + [global_step(resumed) for _ in range(11)] == expected
    # a different world size with the same global batch may resume too
    regrouped = samplers(30, world=1, mbs=2, accum=4)
    regrouped[0].load_state_dict(first[0].state_dict())
    assert [global_step(regrouped) for _ in range(11)] == expected[9:]


def test_resume_with_other_geometry_or_data_fails_clearly():
    state = samplers(30, world=2, mbs=2, accum=2)[0].state_dict()
    with pytest.raises(DataError, match=r"global_batch_size was 8 when saved and is 12 now"):
        samplers(30, world=3, mbs=2, accum=2)[0].load_state_dict(state)
    with pytest.raises(DataError, match=r"num_rows was 30 when saved and is 31 now"):
        samplers(31, world=2, mbs=2, accum=2)[0].load_state_dict(state)


def test_drop_last_false_sees_every_row_once_per_epoch():
    ranks = samplers(23, world=2, mbs=2, accum=3, drop_last=False)
    assert ranks[0].steps_per_epoch == 2
    for epoch in range(2):
        rows = [row for _ in range(2) for row in global_step(ranks)]
        assert sorted(r for r in rows if r is not None) == list(range(23))
        assert rows.count(None) == 1 and rows[-1] is None
    unshuffled = samplers(5, world=1, mbs=2, accum=1, drop_last=False, shuffle=False)
    assert [global_step(unshuffled) for _ in range(3)] == [[0, 1], [2, 3], [4, None]]


def test_drop_last_drops_the_partial_batch_and_rows_are_distinct():
    ranks = samplers(23, world=2, mbs=2, accum=3)
    assert ranks[0].steps_per_epoch == 1
    rows = global_step(ranks)
    assert len(set(rows)) == 12 and None not in rows
    assert global_step(ranks) == np.random.default_rng([3, 1]).permutation(23)[:12].tolist()


def test_too_few_rows_names_every_factor():
    with pytest.raises(DataError) as err:
        samplers(10, world=2, mbs=2, accum=3)
    message = str(err.value)
    assert message.startswith("10 row(s) cannot fill one global batch of 12")
    for part in ("micro_batch_size 2", "grad_accum 3", "world size 2", "drop_last=False"):
        assert part in message


TASKS = np.array([0, 1, 2, 0, 1, 0, 0, 0, 2, 1, 0])  # task sizes 6, 3, 2


def test_every_validation_batch_holds_every_task_and_cycles():
    sampler = StratifiedValidSampler(TASKS, num_tasks=3, samples_per_task=2, seed=1)
    assert sampler.num_batches_per_pass == 3  # ceil(6 / 2)
    seen = {k: [] for k in range(3)}
    for _ in range(sampler.num_batches_per_pass):
        rows = sampler.next_rows()
        assert len(rows) == 6 and all(len(row) == 1 for row in rows)
        tasks = [int(TASKS[row[0]]) for row in rows]
        assert tasks == [0, 0, 1, 1, 2, 2]
        for row in rows:
            seen[int(TASKS[row[0]])].append(row[0])
    assert sorted(seen[0]) == [0, 3, 5, 6, 7, 10]  # one pass sees all of the largest task
    assert sorted(set(seen[1])) == [1, 4, 9] and sorted(set(seen[2])) == [2, 8]
    assert seen[1][:3] == seen[1][3:6]  # the smaller tasks wrap around in the same order


def test_ranks_partition_the_validation_batch():
    full = StratifiedValidSampler(TASKS, 3, samples_per_task=2, seed=5).next_global_rows()
    shards = [StratifiedValidSampler(TASKS, 3, 2, seed=5, world_size=4, rank=r).next_rows() for r in range(4)]
    assert all(len(shard) == 2 for shard in shards)  # ceil(6 / 4), padded with None
    assert sorted(row[0] for shard in shards for row in shard if row is not None) == sorted(row[0] for row in full)
    assert sum(row is None for shard in shards for row in shard) == 2


def test_validation_sampler_resume_and_errors():
    straight = StratifiedValidSampler(TASKS, 3, 2, seed=2)
    expected = [straight.next_global_rows() for _ in range(5)]
    first = StratifiedValidSampler(TASKS, 3, 2, seed=2)
    head = [first.next_global_rows() for _ in range(2)]
    resumed = StratifiedValidSampler(TASKS, 3, 2, seed=2)
    resumed.load_state_dict(first.state_dict())
    assert head + [resumed.next_global_rows() for _ in range(3)] == expected
    with pytest.raises(DataError, match=r"saved task sizes \[6, 3, 2\]"):
        StratifiedValidSampler(TASKS[:-1], 3, 2, seed=2).load_state_dict(first.state_dict())
    with pytest.raises(DataError, match=r"task 3 has no validation samples"):
        StratifiedValidSampler(TASKS, 4, 2, seed=2)


def test_shard_rows():
    rows = [[0], [1], [2], [3], [4]]
    assert shard_rows(rows, 2, 0) == [[0], [2], [4]]
    assert shard_rows(rows, 2, 1) == [[1], [3], None]
    assert shard_rows(rows, 1, 0) == rows
    assert shard_rows([], 3, 2) == []


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match=r"rank 2 is not in \[0, world_size=2\)"):
        GlobalBatchSampler(10, world_size=2, rank=2, micro_batch_size=1, grad_accum=1, seed=0)
    with pytest.raises(ValueError, match=r"samples_per_task must be >= 1"):
        StratifiedValidSampler(TASKS, 3, samples_per_task=0, seed=0)


LENGTHS = np.random.default_rng(0).integers(1, 500, size=203)  # 203 rows: the last window is partial


def test_length_grouping_sees_every_row_once_per_epoch_in_a_random_order():
    ranks = samplers(203, world=2, mbs=2, accum=2, drop_last=False, lengths=LENGTHS)
    assert ranks[0].steps_per_epoch == 26  # ceil(203 / 8)
    epochs = []
    for _ in range(2):
        rows = [row for _ in range(26) for row in global_step(ranks)]
        assert sorted(r for r in rows if r is not None) == list(range(203))
        assert rows.count(None) == 5 and rows[-5:] == [None] * 5
        epochs.append(rows)
    assert epochs[0] != epochs[1]
    other_seed = samplers(203, world=2, mbs=2, accum=2, drop_last=False, lengths=LENGTHS, seed=4)
    assert [row for _ in range(26) for row in global_step(other_seed)] != epochs[0]
    # batches are not in length order: the grouped batches of a window are shuffled
    firsts = [LENGTHS[epochs[0][8 * s]] for s in range(25)]
    assert firsts != sorted(firsts, reverse=True) and firsts != sorted(firsts)


def test_length_grouping_puts_similar_lengths_in_a_batch():
    def padded_positions(lengths) -> int:
        sampler = samplers(203, world=1, mbs=4, accum=1, drop_last=False, lengths=lengths)[0]
        total = 0
        for _ in range(sampler.steps_per_epoch):
            for micro in sampler.next_step():
                real = [int(LENGTHS[r]) for r in micro if r is not None]
                total += len(micro) * max(real)
        return total

    grouped, random = padded_positions(LENGTHS), padded_positions(None)
    assert grouped < 0.7 * random
    assert grouped < 1.1 * int(LENGTHS.sum())  # a window of 64 x 4 rows sorts 1..500 finely


def test_length_grouping_keeps_global_batches_across_geometries_and_resume():
    one_rank = samplers(203, world=1, mbs=4, accum=2, lengths=LENGTHS)
    two_ranks = samplers(203, world=2, mbs=2, accum=2, lengths=LENGTHS)
    straight = [global_step(one_rank) for _ in range(60)]  # crosses epochs (25 steps each)
    assert [global_step(two_ranks) for _ in range(60)] == straight
    first = samplers(203, world=2, mbs=2, accum=2, lengths=LENGTHS)
    head = [global_step(first) for _ in range(31)]
    resumed = samplers(203, world=2, mbs=2, accum=2, lengths=LENGTHS)
    for sampler, old in zip(resumed, first):
        sampler.load_state_dict(old.state_dict())
    assert head + [global_step(resumed) for _ in range(29)] == straight
    with pytest.raises(DataError, match=r"group_by_length was True when saved and is False now"):
        samplers(203, world=2, mbs=2, accum=2)[0].load_state_dict(first[0].state_dict())


def test_length_grouped_by_hand():
    order = np.array([0, 1, 2, 3, 4, 5, 6])
    lengths = np.array([5, 9, 1, 7, 3, 9, 2])
    grouped = length_grouped(order, lengths, batch=2, rng=np.random.default_rng(0), window_batches=2)
    # windows [0, 1, 2, 3] -> by length [1, 3 | 0, 2], [4, 5, 6] -> [5, 4 | 6]; full runs shuffled
    runs = [sorted(grouped[i:i + 2].tolist()) for i in range(0, 6, 2)] + [grouped[6:].tolist()]
    assert sorted(runs[:2]) == [[0, 2], [1, 3]] and runs[2:] == [[4, 5], [6]]
