"""CoBa's divergence factor over long histories: the cached Taylor summary
(mft.weighting._history.ExpSumHistory, used once the history holds MIN_CACHED values) against the
direct O(n) pass of coba_math, on long random histories and inside the controller, and the
bitwise resume of a controller whose summary is live."""
import json
import math

import numpy as np
import pytest

from mft.weighting import build_weighting
from mft.weighting import coba_math as cm
from mft.weighting._history import ExpSumHistory


def direct(h, tau, abs_sum):
    return cm._n_times_last_softmax(h, tau, abs_sum)


def exact(h, tau):
    """n * softmax(-c h)[last] in extended precision (np.longdouble), the reference for both."""
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
        "sudden drop": np.where(i < 20_000, rng.normal(-1e-3, 1e-4, n), rng.normal(-5e-2, 1e-3, n)),
        "constant then noise": np.where(i < 10_000, -1e-3, rng.normal(-1e-3, 1e-3, n)),
    }


@pytest.mark.parametrize("tau", [0.5, 5.0, 20.0])
def test_summary_matches_the_direct_pass_on_long_random_histories(tau):
    rng = np.random.default_rng(int(tau * 10))
    for name, values in histories(rng).items():
        hist, abs_sum, worst, queries = ExpSumHistory(), 0.0, 0.0, 0
        for s, v in enumerate(values):
            hist.append(float(v))
            abs_sum += abs(float(v))
            if s < ExpSumHistory.MIN_CACHED - 1 or s % 7:
                continue
            queries += 1
            fast = cm._n_times_last_softmax(hist.view(), tau, abs_sum, hist.log_sum_exp_to_last)
            ref = direct(hist.view(), tau, abs_sum)
            if ref > 1e-290:  # below, both are 0 or subnormal: equal to double precision
                worst = max(worst, abs(fast - ref) / ref)
        assert worst <= 1e-12, f"{name}: relative difference {worst:.2e}"
        assert hist.rebases < queries, name  # the summary is really used


def test_summary_and_direct_pass_are_both_within_ulps_of_extended_precision():
    rng = np.random.default_rng(7)
    values = -1e-2 / (1 + np.arange(20_000) / 500) * (1 + 0.5 * rng.standard_normal(20_000))
    hist, abs_sum = ExpSumHistory(), 0.0
    for s, v in enumerate(values):
        hist.append(float(v))
        abs_sum += abs(float(v))
        if s >= ExpSumHistory.MIN_CACHED and s % 997 == 0:
            truth = exact(hist.view(), 5.0)
            fast = cm._n_times_last_softmax(hist.view(), 5.0, abs_sum, hist.log_sum_exp_to_last)
            assert fast == pytest.approx(truth, rel=1e-12)
            assert direct(hist.view(), 5.0, abs_sum) == pytest.approx(truth, rel=1e-12)


def test_short_histories_take_the_direct_pass_bit_for_bit():
    hist = ExpSumHistory()
    for v in np.random.default_rng(3).normal(-1e-3, 1e-3, ExpSumHistory.MIN_CACHED - 1):
        hist.append(float(v))
    assert hist.log_sum_exp_to_last(100.0) is None
    h = hist.view()
    s = float(np.abs(h).sum())
    assert cm.divergence_factor_mftcoder(h, 5.0, s, hist.log_sum_exp_to_last) == \
        cm.divergence_factor_mftcoder(h, 5.0, s)


def test_a_value_far_below_the_summary_forces_a_rebuild():
    hist = ExpSumHistory()
    for v in np.random.default_rng(4).normal(-1e-3, 1e-4, 5000):
        hist.append(float(v))
    c = 5.0 * len(hist) / float(np.abs(hist.view()).sum())
    hist.log_sum_exp_to_last(c)
    assert hist.cache_state() is not None
    hist.append(-1.0)  # u = c0 * (h - ref) far below -SPLIT: its weight would dwarf the summary
    assert hist.cache_state() is None
    h = hist.view()
    s = float(np.abs(h).sum())
    fast = cm._n_times_last_softmax(h, 5.0, s, hist.log_sum_exp_to_last)
    assert fast == pytest.approx(direct(h, 5.0, s), rel=1e-12)


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
def test_controller_with_summary_matches_the_direct_controller(variant):
    params = dict(history_window=20, warmup_steps=10, tau=5.0, variant=variant)
    fast, slow = build_weighting("coba", 4, **params), build_weighting("coba", 4, **params)
    slow._df_history.MIN_CACHED = math.inf  # the O(n) pass at every step
    compared = 0
    for t, row in enumerate(losses(10_000)):
        wf, ws = fast.update(val_losses=row), slow.update(val_losses=row)
        if t % 3 == 0:
            np.testing.assert_allclose(wf, ws, rtol=1e-10, atol=1e-15)
            df_fast, df_slow = fast.scores()["df"], slow.scores()["df"]
            assert df_fast == pytest.approx(df_slow, rel=1e-12, abs=1e-300)
            compared += len(fast._df_history) >= ExpSumHistory.MIN_CACHED
    assert compared > 1500 and 0 < fast._df_history.rebases < 200
    assert slow._df_history.rebases == 0


@pytest.mark.parametrize("variant", ["paper", "mftcoder"])
def test_resume_with_a_live_summary_is_bitwise(variant):
    params = dict(history_window=20, warmup_steps=10, tau=5.0, variant=variant)
    rows = list(losses(11_000, seed=1))
    a = build_weighting("coba", 4, **params)
    for row in rows[:7000]:
        a.update(val_losses=row)
    state = json.loads(json.dumps(a.state_dict()))
    assert state["df_summary"] is not None
    rebases = a._df_history.rebases
    a_weights = [a.update(val_losses=row) for row in rows[7000:]]
    assert a._df_history.rebases > rebases  # the continuation rebuilds the summary at least once
    b = build_weighting("coba", 4, **params)
    b.load_state_dict(state)
    b_weights = [b.update(val_losses=row) for row in rows[7000:]]
    assert all(wa.tobytes() == wb.tobytes() for wa, wb in zip(a_weights, b_weights))
    assert a.state_dict() == b.state_dict()

    # a checkpoint written before the summary existed still loads; the summary is rebuilt
    old = {key: value for key, value in state.items() if key != "df_summary"}
    c = build_weighting("coba", 4, **params)
    c.load_state_dict(old)
    for wa, row in zip(a_weights, rows[7000:]):
        np.testing.assert_allclose(c.update(val_losses=row), wa, rtol=1e-10, atol=1e-15)
