"""What the base class owns for every method: the step counter t, declared checkpoint state, the
typed parameters beside the run context, and an import that needs no data-pipeline dependency."""
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mft.weighting import RunContext, Signals, WeightingMethod, available_methods, build_weighting
from mft.weighting.base import method_class
from mft.weighting.params import params_table
from mft.weighting.state import CODECS, saved_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTEXT = RunContext(num_valid_batches=2, steps_per_epoch=3)  # CoBa "auto": N = 4, W = 2


def finite_signals(ctl: WeightingMethod, rng: np.random.Generator) -> Signals:
    """Finite, positive values for every signal the method declares (no step is skipped)."""
    values = {name: rng.uniform(0.5, 3.0, ctl.num_tasks).tolist() for name in ctl.needs.names()}
    return Signals(**values)


@pytest.mark.parametrize("method", available_methods())
def test_t_counts_every_update_also_after_a_state_round_trip(method):
    rng = np.random.default_rng(0)
    ctl = build_weighting(method, num_tasks=3, context=CONTEXT)
    assert ctl.t == 0
    for n in range(1, 6):
        ctl.update(finite_signals(ctl, rng))
        assert ctl.t == n, f"{method}: t = {ctl.t} after {n} updates"
    state = json.loads(json.dumps(ctl.state_dict()))
    assert state["t"] == 5
    resumed = build_weighting(method, num_tasks=3, context=CONTEXT)
    resumed.load_state_dict(state)
    assert resumed.t == 5
    resumed.update(finite_signals(resumed, rng))
    assert resumed.t == 6 and resumed.state_dict()["t"] == 6


def test_t_inside_update_is_the_index_of_the_current_step():
    seen = []

    class Probe(WeightingMethod):
        def _update(self, signals):
            seen.append(self.t)

    probe = Probe(2)
    for _ in range(3):
        probe.update()
    assert seen == [0, 1, 2] and probe.t == 3


def test_a_skipped_step_does_not_advance_t():
    ctl = build_weighting("coba", num_tasks=2, history_window=4, warmup_steps=0)
    ctl.update(Signals(val_losses=[1.0, 2.0]))
    ctl.update(Signals(val_losses=[float("nan"), 2.0]))  # StepSkipped inside: unchanged
    assert ctl.t == 1


@pytest.mark.parametrize("method", available_methods())
def test_declared_state_fields_are_saved_under_their_names_and_restored(method):
    cls = method_class(method)
    ctl = build_weighting(method, num_tasks=3, context=CONTEXT)
    rng = np.random.default_rng(2)
    for _ in range(4):
        ctl.update(finite_signals(ctl, rng))
    state = ctl.state_dict()
    for attribute, kind in cls.state_fields.items():
        assert kind in CODECS, (method, attribute, kind)
        assert saved_key(attribute) in state, (method, attribute)
    fresh = build_weighting(method, num_tasks=3, context=CONTEXT)
    fresh.load_state_dict(json.loads(json.dumps(state)))
    for attribute in cls.state_fields:
        restored, original = getattr(fresh, attribute), getattr(ctl, attribute)
        if isinstance(original, np.ndarray):
            assert restored.dtype == original.dtype
            np.testing.assert_array_equal(restored, original)
    assert json.dumps(fresh.state_dict()) == json.dumps(state)


def test_parsed_params_and_params_by_name_build_the_same_method():
    from mft.weighting import weighting_params
    typed = weighting_params("coba", {"tau": 2, "history_window": 6})
    a = build_weighting("coba", 3, typed, context=CONTEXT)
    b = build_weighting("coba", 3, context=CONTEXT, tau=2, history_window=6)
    assert a.params == b.params and (a.history_window, a.warmup_steps) == (6, 2)
    with pytest.raises(TypeError, match="not both"):
        build_weighting("coba", 3, typed, tau=1.0)


def test_every_params_field_is_a_user_parameter_never_run_context():
    context = {f.name for f in dataclasses.fields(RunContext)}
    for method in available_methods():
        names = {f.name for f in dataclasses.fields(method_class(method).Params)}
        assert not names & context, (method, names & context)


def test_import_without_jsonlines_builds_and_updates_a_method():
    code = textwrap.dedent("""
        import importlib.abc, sys

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "jsonlines":
                    raise ImportError(f"{name} is blocked in this test")

        sys.meta_path.insert(0, Blocker())
        import mft.weighting as w
        assert w.__file__.startswith(sys.argv[1]), w.__file__
        ctl = w.build_weighting("coba", 2, context=w.RunContext(num_valid_batches=1))
        for losses in ([2.0, 3.0], [1.9, 2.5], [1.7, 2.4], [1.6, 2.0]):
            weights = ctl.update(w.Signals(val_losses=losses))
        assert ctl.t == 4 and abs(weights.sum() - 1) < 1e-12
        try:  # last, as a failed import leaves its submodules behind: the blocker works
            import data_pipeline.build
            raise SystemExit("data_pipeline.build imported with jsonlines blocked")
        except ImportError:
            pass
        print("ok", "jsonlines" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", code, ROOT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", "False"]


def test_docs_parameter_table_matches_the_params_dataclasses():
    with open(os.path.join(ROOT, "docs", "weighting.md"), encoding="utf-8") as f:
        docs = f.read()
    table = params_table({name: method_class(name).Params for name in available_methods()})
    assert table in docs, "docs/weighting.md's parameter table is out of date; paste:\n" + table
