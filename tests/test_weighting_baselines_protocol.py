"""The baselines against the trainer protocol: flags per method and source, the registry with
published defaults, parameter errors, bitwise state round trips, and weights that are always
non-negative and sum to 1 whatever the signals (a property test across methods)."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mft.weighting import RunContext, Signals, available_methods, build_weighting

# (method, params) for every baseline and source; DWA's period is short so periods close in tests
CONFIGS = [
    ("lbtw", {}), ("lbtw", {"source": "valid"}), ("lbtw", {"reset_period": 3}),
    ("gradnorm", {}), ("gradnorm", {"source": "valid"}),
    ("famo", {}), ("famo", {"source": "valid"}),
    ("dwa", {"period": 2}), ("uncertainty", {}), ("random", {"seed": 1}),
]
IDS = [f"{m}-{p.get('source', 'train')}" + ("-reset" if "reset_period" in p else "") for m, p in CONFIGS]


def flags(ctl):
    n = ctl.needs
    return n.val_losses, n.train_losses, n.grad_norms, n.after_step, n.updates_after_step


@pytest.mark.parametrize("method, params, expected", [
    ("lbtw", {}, (False, True, False, None, True)),
    ("lbtw", {"source": "valid"}, (True, False, False, None, False)),       # LBTW*: before the step
    ("gradnorm", {}, (False, True, True, None, True)),
    ("gradnorm", {"source": "valid"}, (True, False, True, None, True)),     # GradNorm*
    ("famo", {}, (False, True, False, "train", True)),
    ("famo", {"source": "valid"}, (True, False, False, "valid", True)),     # FAMO*: weights z
    ("famo", {"source": "valid", "gaps": "train"}, (True, True, False, "valid", True)),   # D from training losses
    ("famo", {"source": "valid", "gaps": "source"}, (True, False, False, "valid", True)),  # D from validation
    ("dwa", {"period": 4}, (False, True, False, None, True)),
    ("uncertainty", {}, (False, True, False, None, True)),
    ("random", {}, (False, False, False, None, False)),
    ("uniform", {}, (False, False, False, None, False)),
    ("static", {}, (False, False, False, None, False)),
    ("coba", {"history_window": 4, "warmup_steps": 1}, (True, False, False, None, False)),
])
def test_flags_per_method_and_source(method, params, expected):
    assert flags(build_weighting(method, num_tasks=3, **params)) == expected


def test_registry_builds_every_method_with_published_defaults():
    assert {"lbtw", "gradnorm", "famo", "dwa", "uncertainty", "random"} <= set(available_methods())
    context = RunContext(num_valid_batches=5, steps_per_epoch=7)  # what the trainer passes to any method
    built = {name: build_weighting(name, num_tasks=3, context=context) for name in available_methods()}
    lbtw, gn, famo, dwa, unc, rnd = (built[n] for n in ("lbtw", "gradnorm", "famo", "dwa", "uncertainty", "random"))
    assert (lbtw.source, lbtw.alpha, lbtw.reset_period) == ("train", 0.5, None)
    assert (gn.source, gn.alpha, gn.params.lr) == ("train", 1.5, 0.025)
    assert (famo.source, famo.params.lr, famo.params.weight_decay, famo.min_losses.tolist()) == \
        ("train", 0.025, 0.01, [0.0, 0.0, 0.0])
    assert (dwa.temperature, dwa.period) == (2.0, 7)  # period "epoch" = steps_per_epoch
    assert (unc.params.lr, unc.scores()["log_variance"]) == (0.025, [-0.5] * 3)
    assert rnd.seed == 0
    for ctl in built.values():
        assert ctl.weights.tolist() == [1 / 3] * 3


@pytest.mark.parametrize("method, params, message", [
    ("lbtw", dict(source="trian"), "weighting.params.source: 'trian' is not one of train, valid; did you mean 'train'?"),
    ("lbtw", dict(alpha=-1.0), "weighting.params.alpha: must be >= 0.0, got -1.0"),
    ("lbtw", dict(source="valid", reset_period=10), "weighting.params.reset_period: applies to source 'train' only"),
    ("lbtw", dict(reset_period="epoch"), "weighting.params.reset_period: 'epoch' needs the run's steps_per_epoch"),
    ("lbtw", dict(reset_period=0), "weighting.params.reset_period: must be an integer >= 1, 'epoch' or None, got 0"),
    ("gradnorm", dict(lr=0.0), "weighting.params.lr: must be > 0.0, got 0.0"),
    ("gradnorm", dict(alpha=float("nan")), "weighting.params.alpha: must be a finite number"),
    ("famo", dict(weight_decay=-0.1), "weighting.params.weight_decay: must be >= 0.0"),
    ("famo", dict(min_losses="zero"), "weighting.params.min_losses: must be float or list, got a string 'zero'"),
    ("famo", dict(min_losses=[]), "weighting.params.min_losses: must be a number or a list of numbers"),
    ("famo", dict(min_losses=[0.0, 0.0]), "weighting.params.min_losses: needs one value per task (3) or one number, got 2"),
    ("dwa", dict(), "weighting.params.period: 'epoch' needs the run's steps_per_epoch, which the trainer sets"),
    ("dwa", dict(period=0), "weighting.params.period: must be an integer >= 1 or 'epoch', got 0"),
    ("dwa", dict(period=2, temperature=0), "weighting.params.temperature: must be > 0.0, got 0"),
    ("dwa", dict(steps_per_epoch=7), "weighting.params.steps_per_epoch: set by the trainer from the run, not a parameter"),
    ("uncertainty", dict(lr=-1), "weighting.params.lr: must be > 0.0, got -1"),
    ("random", dict(seed=-1), "weighting.params.seed: must be an integer >= 0, got -1"),
    ("random", dict(sed=1), "weighting.params.sed: random has no parameter 'sed'; did you mean 'seed'?"),
])
def test_invalid_parameters_name_the_parameter(method, params, message):
    with pytest.raises(ValueError) as err:
        build_weighting(method, num_tasks=3, **params)
    assert message in str(err.value)


def test_missing_signal_is_a_clear_error():
    with pytest.raises(ValueError, match="gradnorm needs grad_norms="):
        build_weighting("gradnorm", num_tasks=2).update(Signals(train_losses=[1.0, 2.0]))
    with pytest.raises(ValueError, match="famo needs after_losses="):
        build_weighting("famo", num_tasks=2).update(Signals(train_losses=[1.0, 2.0]))
    with pytest.raises(ValueError, match="expected train_losses for 2 tasks, got shape"):
        build_weighting("dwa", num_tasks=2, period=2).update(Signals(train_losses=[1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="start\\(\\) must be called before the first update"):
        ctl = build_weighting("lbtw", num_tasks=2, source="valid")
        ctl.update(Signals(val_losses=[1.0, 1.0]))
        ctl.start([1.0, 1.0])


def test_existing_methods_accept_the_protocol_calls():
    # the trainer calls a method that needs nothing with update(), CoBa with val_losses only
    assert build_weighting("uniform", num_tasks=2).update().tolist() == [0.5, 0.5]
    assert build_weighting("static", num_tasks=2, weights=[1, 3]).update().tolist() == [0.25, 0.75]
    coba = build_weighting("coba", num_tasks=2, history_window=4, warmup_steps=0)
    assert coba.update(Signals(val_losses=[1.0, 2.0])).tolist() == [0.5, 0.5]


# ---- signals, as the trainer serves a method's declaration ----------------------------------------
def signals_for(ctl, rng, absent_p=0.2):
    """One step of plausible signals for what ``ctl`` declares; NaN marks an absent task."""
    k = ctl.num_tasks

    def losses():
        v = rng.uniform(0.2, 4.0, k)
        v[rng.random(k) < absent_p] = math.nan
        return v.tolist()

    out = {}
    if ctl.needs.val_losses:
        out["val_losses"] = rng.uniform(0.5, 4.0, k).tolist()
    if ctl.needs.train_losses:
        out["train_losses"] = losses()
    if ctl.needs.grad_norms:
        norms = rng.uniform(0.1, 5.0, k)
        if "train_losses" in out:
            norms[np.isnan(out["train_losses"])] = math.nan
        out["grad_norms"] = norms.tolist()
    if ctl.needs.after_step is not None:
        base = out["train_losses"] if ctl.needs.after_step == "train" else out["val_losses"]
        out["after_losses"] = (np.asarray(base) * rng.uniform(0.8, 1.0, k)).tolist()
    return out


@pytest.mark.parametrize("method, params", CONFIGS, ids=IDS)
def test_state_round_trip_is_bitwise(method, params):
    rng = np.random.default_rng(0)
    a = build_weighting(method, num_tasks=3, **params)
    a.start([2.0, 3.0, 2.5])
    steps = [signals_for(a, rng) for _ in range(12)]
    for s in steps[:5]:
        a.update(Signals(**s))
    saved = json.dumps(a.state_dict())  # what a checkpoint holds
    assert "NaN" not in saved and "Infinity" not in saved  # strict JSON
    b = build_weighting(method, num_tasks=3, **params)
    b.load_state_dict(json.loads(saved))
    assert json.dumps(b.state_dict()) == saved
    assert b.weights.tolist() == a.weights.tolist()
    for s in steps[5:]:
        assert b.update(Signals(**s)).tolist() == a.update(Signals(**s)).tolist()
        assert b.scores() == a.scores() or json.dumps(b.scores()) == json.dumps(a.scores())  # NaN != NaN
    assert json.dumps(b.state_dict()) == json.dumps(a.state_dict())


@pytest.mark.parametrize("method, params", CONFIGS, ids=IDS)
def test_state_of_another_configuration_is_refused(method, params):
    ctl = build_weighting(method, num_tasks=3, **params)
    with pytest.raises(ValueError, match="num_tasks=3"):
        build_weighting(method, num_tasks=2, **params).load_state_dict(ctl.state_dict())
    if "source" in params:
        other = build_weighting(method, num_tasks=3)  # source "train"
        with pytest.raises(ValueError, match="source='valid'"):
            other.load_state_dict(ctl.state_dict())


@pytest.mark.parametrize("method, params", CONFIGS, ids=IDS)
def test_scores_are_per_task_lists_or_scalars(method, params):
    ctl = build_weighting(method, num_tasks=3, **params)
    rng = np.random.default_rng(1)
    for _ in range(4):
        ctl.update(Signals(**signals_for(ctl, rng)))
    scores = ctl.scores()
    assert scores
    for value in scores.values():
        assert isinstance(value, float) or (isinstance(value, list) and len(value) == 3)


# ---- weights always non-negative and summing to 1 ------------------------------------------------
value = st.one_of(st.floats(0.0, 50.0), st.just(math.nan), st.just(math.inf), st.floats(-1.0, 0.0))


@settings(max_examples=60, deadline=None)
@given(config=st.sampled_from(CONFIGS), k=st.integers(1, 4), data=st.data())
def test_weights_are_a_distribution_whatever_the_signals(config, k, data):
    method, params = config
    ctl = build_weighting(method, num_tasks=k, **params)
    ctl.start(data.draw(st.lists(value, min_size=k, max_size=k)))
    for _ in range(data.draw(st.integers(1, 8))):
        signals = {}
        for name in ctl.needs.names():
            signals[name] = data.draw(st.lists(value, min_size=k, max_size=k))
        w = ctl.update(Signals(**signals))
        assert w.dtype == np.float64 and w.shape == (k,)
        assert np.isfinite(w).all() and (w >= 0).all()
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        json.dumps(ctl.state_dict(), allow_nan=False)
