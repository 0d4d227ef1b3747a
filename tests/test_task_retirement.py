"""The per-task overfitting stop (validation.task_patience) without DeepSpeed: the retirement rule
on hand-made validation-loss sequences, its checkpointed state, and the weights every registered
method trains with once a task is retired (renormalised over the active tasks, in the driver)."""
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest

from mft.config import load_config
from mft.config_loader import ConfigError
from data_pipeline import GlobalBatchSampler, ProportionalSampler, TaskMixSampler
from mft.task_mix import TaskMix
from mft.task_retirement import TaskRetirement, renormalise
from mft.weighting import RunContext, Signals, available_methods, build_weighting
from mft.weighting_driver import TrainSignals, WeightingDriver

TASKS = ["a", "b", "c"]
DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo_cpu.json")


def feed(retirement, rows):
    """Observe validations at steps 10, 20, ...; the retirements of each."""
    return [retirement.observe(10 * (n + 1), row) for n, row in enumerate(rows)]


def test_a_task_is_retired_after_patience_validations_without_beating_its_own_best():
    r = TaskRetirement.create(TASKS, patience=2, min_delta=0.0)
    got = feed(r, [[3.0, 2.0, 1.0], [2.5, 2.1, 0.9], [2.4, 2.05, 0.8], [2.3, 2.2, 0.7]])
    # b's best is step 10 (2.0); 2.1 and 2.05 do not beat it: retired at the second, step 30
    assert got == [[], [], [1], []]
    assert r.retired_step == [None, 30, None]
    assert r.best_step == [40, 10, 40]
    assert r.events == [{"task": "b", "step": 30, "best_step": 10, "best_valid_loss": 2.0, "valid_loss": 2.05}]
    assert r.active.tolist() == [1.0, 0.0, 1.0]


def test_min_delta_counts_a_too_small_improvement_as_none():
    r = TaskRetirement.create(TASKS, patience=2, min_delta=0.1)
    # a improves by 0.05 twice: not enough, retired; c improves by 0.2: kept
    assert feed(r, [[1.0, 2.0, 3.0], [0.95, 1.0, 2.8], [0.9, 0.5, 2.6]]) == [[], [], [0]]
    assert r.best == [1.0, 0.5, 2.6]


def test_an_improvement_resets_the_count():
    r = TaskRetirement.create(TASKS, patience=2, min_delta=0.0)
    assert feed(r, [[1.0] * 3, [1.1, 0.9, 0.9], [0.8, 0.8, 0.8], [0.9, 0.7, 0.7]]) == [[], [], [], []]
    assert r.bad == [1, 0, 0]


def test_the_last_active_task_is_never_retired_and_a_non_finite_loss_is_no_improvement():
    r = TaskRetirement.create(TASKS, patience=1, min_delta=0.0)
    assert feed(r, [[1.0, 1.0, 1.0], [2.0, 2.0, math.nan]]) == [[], [0, 1]]
    assert r.active.tolist() == [0.0, 0.0, 1.0]
    assert r.bad[2] == 1  # NaN counted as no improvement, yet c stays: it is the last one


def test_patience_zero_retires_nothing_and_changes_no_weights():
    r = TaskRetirement.create(TASKS, patience=0, min_delta=0.0)
    assert feed(r, [[1.0] * 3, [2.0] * 3, [3.0] * 3]) == [[], [], []]
    w = np.array([0.2, 0.3, 0.5])
    assert r.apply(w).tolist() == w.tolist() and r.record([]) == {}


def test_renormalise_zeroes_retired_tasks_and_falls_back_to_uniform_over_the_active():
    active = np.array([1.0, 0.0, 1.0])
    assert renormalise(np.array([0.2, 0.3, 0.5]), active) == pytest.approx([0.2 / 0.7, 0.0, 0.5 / 0.7])
    assert renormalise(np.array([0.0, 1.0, 0.0]), active).tolist() == [0.5, 0.0, 0.5]


def test_a_retired_weight_scales_the_retired_task_before_renormalising_and_keeps_it_drawn():
    r = TaskRetirement.create(TASKS, patience=1, min_delta=0.0, retired_weight=0.25)
    feed(r, [[1.0, 1.0, 1.0], [0.5, 2.0, 0.5]])  # b retired at step 20
    assert r.active.tolist() == [1.0, 0.0, 1.0] and r.scale.tolist() == [1.0, 0.25, 1.0]
    w = np.array([0.2, 0.4, 0.4])
    assert r.apply(w) == pytest.approx(np.array([0.2, 0.1, 0.4]) / 0.7)
    assert r.drawn.tolist() == [1.0, 1.0, 1.0]  # under apply "loss" the factor acts once, through the loss
    dropped = TaskRetirement.create(TASKS, patience=1, min_delta=0.0)
    feed(dropped, [[1.0, 1.0, 1.0], [0.5, 2.0, 0.5]])
    assert dropped.drawn.tolist() == [1.0, 0.0, 1.0] and dropped.apply(w)[1] == 0.0
    # a resume with another factor is refused, naming it
    with pytest.raises(ConfigError, match="retired_weight"):
        TaskRetirement.create(TASKS, patience=1, min_delta=0.0, retired_weight=0.5).load_state_dict(r.state_dict())


def test_state_round_trips_through_json_and_refuses_other_settings():
    r = TaskRetirement.create(TASKS, patience=2, min_delta=0.0, rollback=True)
    feed(r, [[1.0, 2.0, 3.0], [1.1, 1.9, 2.9], [1.2, 1.8, 2.8]])
    state = json.loads(json.dumps(r.state_dict(), allow_nan=False))
    back = TaskRetirement.create(TASKS, patience=2, min_delta=0.0, rollback=True)
    back.load_state_dict(state)
    assert back == r
    assert feed(back, [[0.1, 1.0, 1.0]]) == feed(r, [[0.1, 1.0, 1.0]])
    with pytest.raises(ValueError, match="task_patience"):
        TaskRetirement.create(TASKS, patience=3, min_delta=0.0, rollback=True).load_state_dict(state)


def test_rollback_keeps_each_active_tasks_best_checkpoint_and_goes_back_to_the_earliest_best():
    r = TaskRetirement.create(TASKS, patience=1, min_delta=0.0, rollback=True)
    r.observe(10, [1.0, 1.0, 1.0])
    assert r.wants_checkpoint(10) and r.protected_steps() == {10}
    r.observe(20, [0.5, 0.9, 0.9])
    assert r.protected_steps() == {20}
    newly = r.observe(30, [0.6, 0.8, 1.0])  # a and c did not improve
    assert newly == [0, 2]  # b improved and stays
    assert r.rollback_step(newly, kept={10, 20, 30}) == 20 and r.protected_steps() == {30}
    assert r.rollback_step(newly, kept={10, 30}) == 10  # 20's checkpoint gone: the newest one before it
    assert r.rollback_step(newly, kept={30}) is None  # nothing that early is kept: no rollback
    assert not TaskRetirement.create(TASKS, patience=1, min_delta=0.0).rollback_step(newly, kept={10, 20, 30})


def test_a_retired_task_is_no_longer_drawn_where_the_sampler_can_and_the_rest_keep_their_ratio():
    r = TaskRetirement.create(TASKS, patience=1, min_delta=0.0)
    feed(r, [[1.0, 1.0, 1.0], [0.5, 2.0, 0.5]])  # b retired at step 20
    geometry = dict(world_size=1, rank=0, micro_batch_size=4, grad_accum=1, seed=0)
    sampler = TaskMixSampler(np.repeat([0, 1, 2], 8), 3, [0.5, 0.25, 0.25], **geometry)
    mix = SimpleNamespace(sampler=sampler, sampling=False)
    for _ in range(20):
        sampler.next_step()
    assert TaskMix.exclude(mix, 21, r.active)
    assert sampler.proportions.tolist() == pytest.approx([2 / 3, 0.0, 1 / 3])
    drawn = [sampler.row_task[i] for _ in range(30) for mb in sampler.next_step() for i in mb if i is not None]
    assert 1 not in drawn and {0, 2} <= set(drawn)
    # proportional mixing walks one permutation of rows that mix tasks: the rows still come, weighted 0
    inner = GlobalBatchSampler(24, **geometry, drop_last=False)
    proportional = ProportionalSampler(inner, [[i] for i in range(24)], np.repeat([0, 1, 2], 8), 3)
    assert not TaskMix.exclude(SimpleNamespace(sampler=proportional, sampling=False), 1, r.active)


@pytest.mark.parametrize("factor", [0.0, 0.25])
@pytest.mark.parametrize("name", sorted(available_methods()))
def test_every_method_scales_a_retired_tasks_weight_by_the_factor_and_renormalises_the_rest(name, factor):
    """validation.retired_weight 0: the retired task's weight is 0; 0.25: a quarter of the method's,
    before renormalising."""
    method = build_weighting(name, 3, context=RunContext(num_valid_batches=5, steps_per_epoch=7))
    retirement = TaskRetirement.create(TASKS, patience=1, min_delta=0.0, retired_weight=factor)
    drv = WeightingDriver(method, TASKS, update_interval=1, all_reduce_max=lambda t: t,
                          log=lambda *_: None, retirement=retirement)
    method.start([3.0, 3.0, 3.0])
    rng = np.random.default_rng(0)
    retirement.observe(0, [1.0, 1.0, 1.0])
    for step in range(1, 13):
        if step == 5:
            assert retirement.observe(step, [0.5, 2.0, 0.5]) == [1]  # b retires
        val = 3.0 - 0.1 * step + rng.normal(0, 0.05, 3)
        train = TrainSignals(train_losses=val + 0.1, grad_norms=rng.uniform(0.5, 1.5, 3))
        drv.before_step(step, val)
        drv.after_step(step, val, train, remeasure=lambda which: val - 0.01)
        applied = drv.applied_weights()
        assert applied.sum() == pytest.approx(1.0) and (applied >= 0).all()
        if step >= 5:
            w = method.weights * np.array([1.0, factor, 1.0])
            assert applied == pytest.approx(w / w.sum())
            assert (applied[1] == 0.0) == (factor == 0.0)
        else:
            assert applied == pytest.approx(method.weights)


def test_the_report_lists_each_runs_retirements_and_nothing_without_any():
    from mft.experiments.report import retirement_section
    event = {"task": "reverse", "step": 120, "best_step": 80, "best_valid_loss": 1.0, "valid_loss": 1.2}
    scores = {"uniform": [{"tasks": {}}, {"tasks": {}, "retired_tasks": [event]}],
              "uniform_rollback": [{"tasks": {}, "retired_tasks": [{**event, "rolled_back_to": 80}]}]}
    lines = retirement_section(scores, {"uniform": [42, 43], "uniform_rollback": [42]})
    assert "| uniform | 43 | reverse | 120 | 80 | - |" in lines
    assert "| uniform_rollback | 42 | reverse | 120 | 80 | 80 |" in lines
    assert len([x for x in lines if x.startswith("| uniform")]) == 2
    assert retirement_section({"uniform": [{"tasks": {}}]}, {"uniform": [42]}) == []


@pytest.mark.parametrize("sets, message", [
    (["validation.rollback=true"], "validation.rollback: needs validation.task_patience"),
    (["validation.task_patience=-1"], "task_patience"),
    (["weighting.probe=same"], "weighting.probe"),
    (["validation.task_patience=2", "validation.retired_weight=1.0"], r"validation.retired_weight: must be in \[0, 1\)"),
    (["validation.retired_weight=0.25"], "validation.retired_weight: needs validation.task_patience"),
])
def test_bad_settings_fail_at_load_time_naming_the_key(sets, message):
    with pytest.raises(ConfigError, match=message):
        load_config(DEMO, sets)
    assert load_config(DEMO, ["validation.task_patience=2", "validation.rollback=true",
                              "weighting.probe=fixed"]).validation.rollback


def test_after_a_rollback_earlier_retirements_stay_and_the_counters_are_the_checkpoints():
    r = TaskRetirement.create(TASKS, patience=1, min_delta=0.0, rollback=True)
    r.observe(10, [1.0, 1.0, 1.0])
    saved = r.state_dict()  # the checkpoint of step 10
    r.observe(20, [2.0, 0.5, 0.5])  # a retired at 20
    r.observe(30, [2.0, 0.4, 0.6])  # c retired at 30
    back = TaskRetirement.create(TASKS, patience=1, min_delta=0.0, rollback=True)
    back.load_state_dict(saved)
    back.keep_retired(r)
    assert back.retired_step == [20, None, 30]
    assert back.best_step == [10, 10, 10] and back.bad == [0, 0, 0]  # as they were at step 10
    assert [e["task"] for e in back.events] == ["a", "c"]


def test_the_valid_rise_fault_raises_one_tasks_full_validation_loss_from_its_step_on():
    from mft.faults import StepHooks, hooks_from_env
    hooks = hooks_from_env(rank=1, environ={"MFT_FAULT_VALID_RISE": "2:12"})
    val = np.array([1.0, 2.0, 3.0])
    assert hooks.validation_losses(11, val).tolist() == [1.0, 2.0, 3.0]
    assert hooks.validation_losses(12, val).tolist() == [1.0, 2.0, 4.0]
    assert hooks.validation_losses(16, val).tolist() == [1.0, 2.0, 8.0]
    assert val.tolist() == [1.0, 2.0, 3.0]  # the measured array is left alone
    assert StepHooks().validation_losses(16, val) is val


def test_a_task_never_measured_finite_is_retired_with_strict_json_records():
    r = TaskRetirement.create(TASKS, patience=2, min_delta=0.0, rollback=True)
    feed(r, [[1.0, math.nan, 1.0], [0.9, math.nan, 0.9]])
    assert r.events == [{"task": "b", "step": 20, "best_step": -1, "best_valid_loss": None, "valid_loss": None}]
    json.dumps(r.state_dict(), allow_nan=False)
    assert r.rollback_step([1], kept={10, 20}) is None  # no best step to go back to: retired without a rollback
