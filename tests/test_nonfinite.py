import pytest

from mft.nonfinite import NonFiniteGuard, NonFiniteLossError


def test_counts_skipped_steps_and_resets_on_a_finite_one():
    guard = NonFiniteGuard(max_in_a_row=3)
    assert guard.check(step=1, finite=False, update_skipped=True, zero_stage=2)
    assert guard.check(step=2, finite=False, update_skipped=True, zero_stage=2)
    assert not guard.check(step=3, finite=True, update_skipped=False, zero_stage=2)
    assert guard.state_dict() == {"in_a_row": 0, "total": 2}


def test_stops_after_too_many_in_a_row_and_when_the_engine_did_not_skip():
    guard = NonFiniteGuard(max_in_a_row=2)
    guard.check(step=1, finite=False, update_skipped=True, zero_stage=2)
    with pytest.raises(NonFiniteLossError, match="step 2: 2 steps in a row"):
        guard.check(step=2, finite=False, update_skipped=True, zero_stage=2)
    with pytest.raises(NonFiniteLossError, match="ZeRO stage 0\\) applied the update anyway"):
        NonFiniteGuard(max_in_a_row=5).check(step=7, finite=False, update_skipped=False, zero_stage=0)
