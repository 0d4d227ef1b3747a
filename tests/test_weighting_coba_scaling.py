"""CoBa's divergence factor over long histories: the O(n) pass of coba_math against the same sum in
extended precision, on long random histories and inside the controller, and the bitwise resume
of a controller with a long history."""
import json

import numpy as np
import pytest

from mft.weighting import Signals, build_weighting
from mft.weighting import coba_math as cm


def exact(h, tau):
    """n * softmax(-c h)[last] in extended precision (np.longdouble), the reference."""
    h = np.asarray(h, dtype=np.longdouble)
    c = tau * h.size / np.abs(h).sum()
    return float(h.size / np.exp(c * (h[-1] - h)).sum())


def histories(rng):
    """DF-input histories of the shapes training produces, and a few it should not."""
    n = 20_000
    i = np.arange(n)
    return {
        "stationary": rng.normal(-1e-3, 5e-4, n),
        "shrinking slopes": -1e-2 / (1 + i / 1000) * (1 + 0.3 * rng.standard_normal(n)),
        "growing slopes": -1e-4 * (1 + i / 1000) * (1 + 0.3 * rng.standard_normal(n)),
        "heavy tailed": rng.standard_cauchy(n) * 1e-3,
        "new minima": -1e-3 * i / 1000 + 1e-4 * rng.standard_normal(n),
        "rare huge outliers": np.where(rng.random(n) < 1e-3, 1e3, rng.normal(-1e-3, 1e-4, n)),
        "sign flips": rng.normal(np.where((i // 5000) % 2, 1e-3, -1e-3), 1e-3),
        "sudden drop": np.where(i < 15_000, rng.normal(-1e-3, 1e-4, n), rng.normal(-5e-2, 1e-3, n)),
        "constant then noise": np.where(i < 10_000, -1e-3, rng.normal(-1e-3, 1e-3, n)),
    }


@pytest.mark.parametrize("tau", [0.5, 5.0, 20.0])
def test_direct_pass_matches_extended_precision_on_long_random_histories(tau):
    rng = np.random.default_rng(int(tau * 10))
    for name, values in histories(rng).items():
        running = np.cumsum(np.abs(values))  # the controller keeps sum|h| as a running sum
        worst = worst_fresh = 0.0
        for s in range(999, values.size, 997):
            ref = exact(values[:s + 1], tau)
            got = cm.n_times_last_softmax(values[:s + 1], tau, float(running[s]))
            fresh = cm.n_times_last_softmax(values[:s + 1], tau)
            if ref > 1e-290:  # below, both are 0 or subnormal: equal to double precision
                worst = max(worst, abs(got - ref) / ref)
                worst_fresh = max(worst_fresh, abs(fresh - ref) / ref)
        # the running sum of 20 000 terms carries a few more roundings than NumPy's pairwise sum
        assert worst <= 1e-11, f"{name}: relative difference {worst:.2e} (running sum)"
        assert worst_fresh <= 1e-12, f"{name}: relative difference {worst_fresh:.2e}"


def losses(steps, seed=0, k=4):
    """Noisy power-law validation losses, one task rising for a while every 3000 steps."""
    rng = np.random.default_rng(seed)
    l0, scale, power = rng.uniform(1.5, 3.5, k), rng.uniform(200, 2000, k), rng.uniform(0.2, 0.6, k)
    for t in range(steps):
        loss = l0 * (1 + t / scale) ** -power * (1 + 0.02 * rng.standard_normal(k))
        if t % 3000 > 2800:
            loss[(t // 3000) % k] *= 1 + 0.002 * (t % 3000 - 2800)
        yield loss


@pytest.mark.parametrize("variant", ["paper", "mftcoder"])
def test_controller_df_matches_extended_precision_over_a_long_run(variant):
    ctl = build_weighting("coba", 4, history_window=20, warmup_steps=10, tau=5.0, variant=variant)
    compared = 0
    for t, row in enumerate(losses(10_000)):
        ctl.update(Signals(val_losses=row))
        if t > 10 and t % 499 == 0:
            history = ctl.state_dict()["df_history"]
            ref = exact(history, 5.0)
            assert ctl.scores()["df"] == pytest.approx(min(ref, 1.0) if variant == "paper" else ref,
                                                       rel=1e-11, abs=1e-300)  # a running sum|h|
            compared += 1
    assert compared == 20 and len(ctl.state_dict()["df_history"]) >= 9_989


@pytest.mark.parametrize("variant", ["paper", "mftcoder"])
def test_resume_over_a_long_history_is_bitwise(variant):
    params = dict(history_window=20, warmup_steps=10, tau=5.0, variant=variant)
    rows = list(losses(11_000, seed=1))
    a = build_weighting("coba", 4, **params)
    for row in rows[:7000]:
        a.update(Signals(val_losses=row))
    state = json.loads(json.dumps(a.state_dict()))
    a_weights = [a.update(Signals(val_losses=row)) for row in rows[7000:]]
    b = build_weighting("coba", 4, **params)
    b.load_state_dict(state)
    b_weights = [b.update(Signals(val_losses=row)) for row in rows[7000:]]
    assert all(wa.tobytes() == wb.tobytes() for wa, wb in zip(a_weights, b_weights))
    assert a.state_dict() == b.state_dict()
