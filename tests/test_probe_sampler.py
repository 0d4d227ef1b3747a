"""weighting.probe = fixed: every controller step measures the same stratified rows, on every rank."""
import numpy as np
import pytest

from data_pipeline import DataError, StratifiedValidSampler, shard_rows
from data_pipeline.probe import FixedProbeSampler, probe_sampler

TASKS = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 2, 0, 1, 0, 2, 1, 0, 0])  # sizes 8, 5, 5


def steps(sampler, m, n):
    """n controller steps of m batches each."""
    return [[sampler.next_global_rows() for _ in range(m)] for _ in range(n)]


@pytest.mark.parametrize("m", [1, 3])
def test_fixed_measures_the_same_rows_at_every_step_and_resample_does_not(m):
    fixed = steps(probe_sampler("fixed", TASKS, 3, 2, seed=4, batches_per_step=m), m, 6)
    assert all(step == fixed[0] for step in fixed)
    resampled = steps(probe_sampler("resample", TASKS, 3, 2, seed=4, batches_per_step=m), m, 6)
    assert resampled[0] == fixed[0]  # the fixed rows are the first step resample would measure
    assert any(step != resampled[0] for step in resampled[1:])
    if m > 1:
        assert fixed[0][0] != fixed[0][1]  # m different batches, repeated as a group


def test_fixed_rows_are_stratified_and_identical_on_every_rank():
    ranks = [FixedProbeSampler(TASKS, 3, 2, seed=4, batches_per_step=2, world_size=2, rank=r) for r in range(2)]
    for _ in range(5):
        rows = [s.next_global_rows() for s in ranks]
        assert rows[0] == rows[1]
        assert [int(TASKS[row[0]]) for row in rows[0]] == [0, 0, 1, 1, 2, 2]
        shards = [shard_rows(rows[r], 2, r) for r in range(2)]
        assert sorted(x[0] for s in shards for x in s if x) == sorted(x[0] for x in rows[0])


def test_fixed_resumes_mid_step_and_refuses_another_probe_or_m():
    straight = FixedProbeSampler(TASKS, 3, 2, seed=4, batches_per_step=3)
    first = FixedProbeSampler(TASKS, 3, 2, seed=4, batches_per_step=3)
    first.next_global_rows()
    straight.next_global_rows()
    resumed = FixedProbeSampler(TASKS, 3, 2, seed=4, batches_per_step=3)
    resumed.load_state_dict(first.state_dict())
    assert [resumed.next_global_rows() for _ in range(4)] == [straight.next_global_rows() for _ in range(4)]
    with pytest.raises(DataError, match="weighting.probe"):
        FixedProbeSampler(TASKS, 3, 2, seed=4, batches_per_step=2).load_state_dict(first.state_dict())
    with pytest.raises(DataError, match="weighting.probe"):
        FixedProbeSampler(TASKS, 3, 2, seed=4, batches_per_step=3).load_state_dict(
            StratifiedValidSampler(TASKS, 3, 2, seed=4).state_dict())
    with pytest.raises(DataError, match="saved weighting.probe 'fixed', now 'resample'"):
        StratifiedValidSampler(TASKS, 3, 2, seed=4).load_state_dict(first.state_dict())
    old = {k: v for k, v in StratifiedValidSampler(TASKS, 3, 2, seed=4).state_dict().items() if k != "probe"}
    StratifiedValidSampler(TASKS, 3, 2, seed=4).load_state_dict(old)  # a checkpoint from before weighting.probe


def test_the_controller_window_counts_the_same_batches_per_pass_under_both_probes():
    assert (FixedProbeSampler(TASKS, 3, 2, seed=4, batches_per_step=1).num_batches_per_pass
            == StratifiedValidSampler(TASKS, 3, 2, seed=4).num_batches_per_pass == 4)
