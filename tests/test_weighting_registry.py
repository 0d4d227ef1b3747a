"""The weighting protocol, the registry, parameter validation and the uniform method."""
import ast
import json
import os

import numpy as np
import pytest

from mft.weighting import Needs, RunContext, Signals, WeightingMethod, available_methods, build_weighting, register
from mft.weighting import base


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so test registrations do not leak into other tests."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))


def _registered_in_sources() -> dict[str, str]:
    """{name: module} for every `@register("name")` in mft/weighting/*.py, read from the source
    (not imported: importing a module registers its methods whether the package imports it or not)."""
    folder = os.path.dirname(base.__file__)
    found = {}
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".py"):
            continue
        with open(os.path.join(folder, file), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for deco in node.decorator_list:
                    if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "register":
                        found[deco.args[0].value] = f"mft.weighting.{file[:-3]}"
    return found


def test_builtin_methods_registered():
    """Every method module's @register runs when the package is imported (a module the package
    forgets to import is missing here), and nothing else is registered."""
    in_sources = _registered_in_sources()
    assert {"uniform", "static", "coba", "lbtw", "gradnorm", "famo", "dwa", "uncertainty", "random"} <= set(in_sources)
    assert available_methods() == sorted(in_sources)
    for name, module in in_sources.items():
        assert base.method_class(name).__module__ == module


def test_needs_flags():
    uniform = build_weighting("uniform", num_tasks=2)
    coba = build_weighting("coba", num_tasks=2, history_window=4, warmup_steps=1)
    def flags(m):
        return m.needs.val_losses, m.needs.train_losses, m.needs.grad_norms

    assert flags(uniform) == (False, False, False)
    assert flags(coba) == (True, False, False)
    assert isinstance(coba, WeightingMethod)


def test_unknown_method_names_available_and_closest():
    with pytest.raises(ValueError) as err:
        build_weighting("cobba", num_tasks=3)
    msg = str(err.value)
    assert "unknown weighting method 'cobba'" in msg and "did you mean 'coba'?" in msg
    assert "coba" in msg and "uniform" in msg  # the available methods
    with pytest.raises(ValueError, match="available: .*uniform"):
        build_weighting("zzz", num_tasks=3)


def test_method_names_are_case_insensitive():
    assert build_weighting("CoBa", num_tasks=2, history_window=4, warmup_steps=0).name == "coba"


def test_unknown_parameter_names_method_closest_and_valid():
    with pytest.raises(ValueError) as err:
        build_weighting("coba", num_tasks=3, histroy_window=40, warmup_steps=20)
    msg = str(err.value)
    assert "weighting.params.histroy_window: coba has no parameter 'histroy_window'; did you mean 'history_window'?" in msg
    assert "(coba parameters: variant, history_window, warmup_steps, tau, ablate)" in msg  # no run context
    with pytest.raises(ValueError, match="uniform has no parameter 'tau'"):
        build_weighting("uniform", num_tasks=3, tau=5.0)


@pytest.mark.parametrize("params, message", [
    (dict(tau=-1), "weighting.params.tau: must be > 0.0, got -1"),
    (dict(tau=0.0), "weighting.params.tau: must be > 0.0, got 0.0"),
    (dict(tau=float("nan")), "weighting.params.tau: must be a finite number, got nan"),
    (dict(tau=True), "weighting.params.tau: must be a number, got a boolean True"),
    (dict(history_window=1), "weighting.params.history_window: must be an integer >= 2 or 'auto', got 1"),
    (dict(history_window=2.5), "weighting.params.history_window: must be int or str, got a float 2.5"),
    (dict(history_window="all"), "weighting.params.history_window: must be an integer >= 2 or 'auto', got 'all'"),
    (dict(warmup_steps=-1), "weighting.params.warmup_steps: must be an integer >= 0 or 'auto', got -1"),
    (dict(variant="Paper"), "weighting.params.variant: 'Paper' is not one of paper, mftcoder; did you mean 'paper'?"),
])
def test_invalid_values_name_parameter_method_and_valid_parameters(params, message):
    full = {"history_window": 10, "warmup_steps": 2, **params}
    with pytest.raises(ValueError) as err:
        build_weighting("coba", num_tasks=3, **full)
    assert message in str(err.value)
    assert "coba parameters: variant, history_window, warmup_steps, tau, ablate" in str(err.value)


def test_auto_needs_num_valid_batches():
    with pytest.raises(ValueError) as err:
        build_weighting("coba", num_tasks=3)  # both default to "auto"
    assert "weighting.params.history_window: 'auto' needs the run's num_valid_batches" in str(err.value)
    with pytest.raises(ValueError, match="weighting.params.warmup_steps: 'auto' needs the run's num_valid_batches"):
        build_weighting("coba", num_tasks=3, history_window=10)


def test_auto_resolves_to_paper_defaults():
    ctl = build_weighting("coba", num_tasks=3, context=RunContext(num_valid_batches=7))
    assert (ctl.history_window, ctl.warmup_steps, ctl.tau, ctl.variant) == (14, 7, 5.0, "paper")
    ctl = build_weighting("coba", num_tasks=3, history_window=40, context=RunContext(num_valid_batches=3))
    assert (ctl.history_window, ctl.warmup_steps) == (40, 3)


def test_run_context_is_accepted_by_every_method_and_refused_as_a_parameter():
    # the trainer passes the run context to whatever method the config names
    context = RunContext(num_valid_batches=5, steps_per_epoch=3)
    for name in available_methods():
        method = build_weighting(name, num_tasks=2, context=context)
        assert method.weights.tolist() == [0.5, 0.5] and method.t == 0, name
    coba, dwa = build_weighting("coba", num_tasks=2, context=context), build_weighting("dwa", num_tasks=2, context=context)
    assert (coba.history_window, dwa.period) == (10, 3)  # "auto" = 2M and "epoch" take the trainer's values
    for name in ("num_valid_batches", "steps_per_epoch"):
        with pytest.raises(ValueError, match=f"weighting.params.{name}: set by the trainer from the run"):
            build_weighting("coba", num_tasks=2, **{name: 4})
    bad = RunContext(num_valid_batches=0, steps_per_epoch=0)
    with pytest.raises(ValueError, match="weighting.params.history_window: 'auto' means the run's num_valid_batches, "
                                         "which must be an integer >= 1 .*got num_valid_batches=0"):
        build_weighting("coba", num_tasks=2, context=bad)
    with pytest.raises(ValueError, match="weighting.params.period: 'epoch' means the run's steps_per_epoch"):
        build_weighting("dwa", num_tasks=2, context=bad)
    assert build_weighting("uniform", num_tasks=2, context=bad).t == 0  # a fact no method uses stops nothing


def test_num_tasks_validated():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="num_tasks must be a positive integer"):
            build_weighting("uniform", num_tasks=bad)


def test_uniform_method():
    ctl = build_weighting("uniform", num_tasks=4)
    for _ in range(3):
        w = ctl.update()
        assert isinstance(w, np.ndarray) and w.dtype == np.float64
        np.testing.assert_array_equal(w, [0.25] * 4)
    assert ctl.update(Signals(val_losses=[1.0, 2.0, 3.0, 4.0])).tolist() == [0.25] * 4
    ctl.start([1.0, 2.0, 3.0, 4.0])  # default no-op
    assert ctl.scores() == {}
    state = json.loads(json.dumps(ctl.state_dict()))
    other = build_weighting("uniform", num_tasks=4)
    other.load_state_dict(state)
    with pytest.raises(ValueError, match="num_tasks=4"):
        build_weighting("uniform", num_tasks=3).load_state_dict(state)


def test_weights_property_is_a_copy():
    ctl = build_weighting("uniform", num_tasks=2)
    ctl.weights[0] = 7.0
    assert ctl.weights.tolist() == [0.5, 0.5]


def test_register_a_new_method(scratch_registry):
    @register("constant_first")
    class ConstantFirst(WeightingMethod):
        needs = Needs(train_losses=True)

        def _update(self, signals):
            assert signals.train_losses.dtype == np.float64  # checked and converted by update()
            self._weights = np.eye(self.num_tasks)[0]
            return self.weights

    assert "constant_first" in available_methods()
    ctl = build_weighting("constant_first", num_tasks=3)
    assert ctl.update(Signals(train_losses=[1.0, 1.0, 1.0])).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="needs train_losses="):
        ctl.update()
    with pytest.raises(ValueError, match="has no parameter 'tau'"):
        build_weighting("constant_first", num_tasks=3, tau=1.0)


def test_register_refuses_clashes_and_non_methods(scratch_registry):
    with pytest.raises(ValueError, match="already registered"):
        @register("uniform")
        class Other(WeightingMethod):
            def _update(self, signals):
                return self.weights
    with pytest.raises(TypeError, match="WeightingMethod subclass"):
        register("plain")(object)
    with pytest.raises(ValueError, match="lower-case identifiers"):
        register("Bad-Name")
    assert "plain" not in available_methods()
