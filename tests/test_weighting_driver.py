"""The weighting driver without DeepSpeed: the controller schedule, the signals a method declared,
skipped non-finite validation losses, the rank-spread check (with a fake all-reduce), and the
step's one all-reduce for counts and controller losses."""
import math

import numpy as np
import pytest
import torch

import mft.distributed as distributed
from mft.faults import Faults, StepHooks, hooks_from_env
from mft.losses import TaskTotals
from mft.weighting import Needs, WeightingMethod, build_weighting
from mft.weighting_driver import TrainSignals, WeightingDriver

TASKS = ["a", "b", "c"]


class Recorder(WeightingMethod):
    """Records the signals of every update; its weights move to the first task."""

    def __init__(self, needs: Needs) -> None:
        super().__init__(len(TASKS))
        self.needs = needs
        self.seen = []

    def _update(self, signals):
        self.seen.append(signals)
        self._weights = np.array([0.5, 0.25, 0.25])

    def scores(self):
        return {"per_task": [1.0, 2.0, 3.0], "scalar": 0.5}


def driver(method, interval=1, log=None):
    return WeightingDriver(method, TASKS, update_interval=interval, all_reduce_max=lambda t: t,
                           log=log or (lambda *_: None))


VAL = np.array([2.0, 3.0, 4.0])
TRAIN = TrainSignals(train_losses=np.array([1.0, math.nan, 2.0]), grad_norms=np.array([0.1, math.nan, 0.3]))


def no_remeasure(which):
    raise AssertionError(f"remeasure({which!r}) called for a method that does not need it")


def test_schedule_counts_controller_steps_from_the_first():
    d = driver(Recorder(Needs(val_losses=True)), interval=3)
    assert [s for s in range(1, 11) if d.is_update_step(s)] == [1, 4, 7, 10]
    assert [s for s in range(1, 11) if d.wants_val_losses(s)] == [1, 4, 7, 10]
    assert not any(driver(Recorder(Needs(train_losses=True)), interval=3).wants_val_losses(s) for s in range(1, 11))


def test_a_method_that_weighs_this_step_is_updated_before_it():
    method = Recorder(Needs(val_losses=True))
    d = driver(method)
    record = d.before_step(1, VAL)
    assert method.t == 1 and method.seen[0].val_losses.tolist() == VAL.tolist()
    assert method.seen[0].train_losses is None and method.seen[0].after_losses is None
    assert record == {"weighting_per_task": {"a": 1.0, "b": 2.0, "c": 3.0}, "weighting_scalar": 0.5}
    assert d.after_step(1, VAL, TRAIN, no_remeasure) == {} and method.t == 1


def test_a_method_that_reads_the_step_gets_exactly_what_it_declared_after_it():
    calls = []

    def remeasure(which):
        calls.append(which)
        return np.array([1.5, 2.5, 3.5])

    method = Recorder(Needs(val_losses=True, train_losses=True, after_step="valid"))
    d = driver(method)
    assert d.before_step(1, VAL) == {} and method.t == 0
    d.after_step(1, VAL, TRAIN, remeasure)
    (signals,) = method.seen
    assert calls == ["valid"]
    assert signals.val_losses.tolist() == VAL.tolist()
    np.testing.assert_array_equal(signals.train_losses, TRAIN.train_losses)  # NaN kept: an absent task
    assert signals.grad_norms is None  # measured, but not declared
    assert signals.after_losses.tolist() == [1.5, 2.5, 3.5]
    record = d.scores()
    logged = driver(Recorder(method.needs)).after_step(1, VAL, TRAIN, remeasure)
    assert logged == {**record, "signal_after_losses": {"a": 1.5, "b": 2.5, "c": 3.5}}  # for a replay of the run

    grads = Recorder(Needs(train_losses=True, grad_norms=True))
    driver(grads).after_step(1, None, TRAIN, no_remeasure)
    np.testing.assert_array_equal(grads.seen[0].grad_norms, TRAIN.grad_norms)
    logged = driver(Recorder(grads.needs)).after_step(1, None, TRAIN, no_remeasure)
    assert list(logged["signal_grad_norms"]) == TASKS and "signal_after_losses" not in logged
    np.testing.assert_array_equal(list(logged["signal_grad_norms"].values()), TRAIN.grad_norms)  # NaN: absent
    assert grads.seen[0].val_losses is None


def test_between_controller_steps_nothing_is_measured_or_updated():
    before, after = Recorder(Needs(val_losses=True)), Recorder(Needs(train_losses=True, after_step="train"))
    for method in (before, after):
        d = driver(method, interval=2)
        assert d.before_step(2, None) == {} and d.after_step(2, None, TRAIN, no_remeasure) == {}
        assert method.t == 0 and not method.seen


def test_non_finite_validation_losses_skip_the_update_with_a_message():
    lines = []
    method = Recorder(Needs(val_losses=True))
    d = driver(method, log=lines.append)
    assert d.before_step(5, np.array([2.0, math.nan, 1.0])) == {"controller_skipped": True}
    assert method.t == 0 and not method.seen
    assert lines == ["step 5: non-finite validation loss [2.0, nan, 1.0]; weights not updated"]
    coba = build_weighting("coba", 3, history_window=4, warmup_steps=1)
    assert driver(coba).before_step(1, np.array([math.inf, 1.0, 1.0])) == {"controller_skipped": True}
    assert coba.t == 0


def test_rank_spread_with_a_fake_all_reduce_over_two_ranks():
    method = Recorder(Needs())
    method._weights = np.array([0.5, 0.3, 0.2])
    other = torch.tensor([0.5, 0.2, 0.3], dtype=torch.float64)  # the other rank's weights

    def all_reduce_max(t):
        return torch.maximum(t, torch.cat([other, -other]))

    d = WeightingDriver(method, TASKS, update_interval=1, all_reduce_max=all_reduce_max)
    assert d.rank_spread() == pytest.approx(0.1, abs=1e-15)
    other[:] = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    assert d.rank_spread() == 0.0


def test_counts_and_controller_losses_travel_in_one_all_reduce(monkeypatch):
    calls = []

    def two_equal_ranks(t):
        calls.append(t.clone())
        return t * 2

    monkeypatch.setattr(distributed, "all_reduce_sum", two_equal_ranks)
    tokens, total = torch.tensor([3.0, 0.0, 5.0], dtype=torch.float64), torch.tensor([9.0], dtype=torch.float64)
    controller = TaskTotals(torch.tensor([6.0, 4.0, 0.0], dtype=torch.float64),
                            torch.tensor([3.0, 2.0, 0.0], dtype=torch.float64))
    got = distributed.all_reduce_sum_together([tokens, total, controller.sums, controller.counts])
    assert len(calls) == 1 and calls[0].tolist() == [3, 0, 5, 9, 6, 4, 0, 3, 2, 0]
    assert [g.tolist() for g in got] == [[6, 0, 10], [18], [12, 8, 0], [6, 4, 0]]
    means = TaskTotals(*got[2:]).means()
    assert means[:2].tolist() == [2.0, 2.0] and math.isnan(means[2])  # no tokens: NaN, not 0


def test_fault_hooks_come_from_the_environment_only():
    assert type(hooks_from_env(0, {})) is StepHooks
    hooks = hooks_from_env(0, {"MFT_FAULT_NAN_LOSS": "2", "MFT_FAULT_NAN_VALID": "3"})
    loss, sums = torch.tensor(1.0), torch.tensor([1.0, 2.0])
    assert hooks.training_loss(1, loss, sums) == (loss, sums)
    bad_loss, bad_sums = hooks.training_loss(2, loss, sums)
    assert math.isnan(bad_loss) and torch.isnan(bad_sums).all()
    assert np.isnan(hooks.controller_losses(3, VAL)).all() and hooks.controller_losses(2, VAL) is VAL
    other_rank = Faults(1, {"MFT_FAULT_NAN_LOSS": "2"})  # the loss fault is rank 0's alone
    assert other_rank.training_loss(2, loss, sums) == (loss, sums)
