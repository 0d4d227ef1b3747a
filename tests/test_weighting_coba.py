"""The CoBa controller (mft.weighting.coba): trajectories worked out by hand for both variants,
warm-up, degenerate inputs, divergence, checkpoint round trips, and invariants on random input."""
import json
import logging
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mft.weighting import Signals, build_weighting
from mft.weighting import coba_math as cm


def softmax_by_hand(*logits):
    e = [math.exp(z) for z in logits]
    return [v / sum(e) for v in e]


def coba(k=2, **params):
    return build_weighting("coba", num_tasks=k, **params)


# The losses of the hand-worked trajectories (K = 2, N = 3, W = 1, tau = 5). With l(0) = (2, 4)
# the ratios are r(0) = (1, 1), r(1) = (0.9, 0.95), r(2) = (0.8, 0.925), r(3) = (0.75, 0.975):
# task 1 keeps converging, task 2 turns upward at t = 3.
LOSSES = [[2.0, 4.0], [1.8, 3.8], [1.6, 3.7], [1.5, 3.9]]


# ---- the paper variant, by hand -------------------------------------------------------------------
def test_paper_trajectory_by_hand():
    ctl = coba(history_window=3, warmup_steps=1, tau=5.0)

    # t = 0: r = (1, 1), one point -> slopes 0; t <= W -> uniform
    np.testing.assert_array_equal(ctl.update(Signals(val_losses=LOSSES[0])), [0.5, 0.5])
    assert ctl.scores()["slopes"] == [0.0, 0.0]

    # t = 1: two points -> slopes (0.9 - 1, 0.95 - 1) = (-0.1, -0.05); still t <= W -> uniform
    np.testing.assert_array_equal(ctl.update(Signals(val_losses=LOSSES[1])), [0.5, 0.5])
    np.testing.assert_allclose(ctl.scores()["slopes"], [-0.1, -0.05], rtol=1e-12)
    assert ctl.scores()["df"] == 1.0 and ctl.scores()["rcs"] == [0.5, 0.5]

    # t = 2: window s = 0..2; slopes -0.1 and ((-1)(1) + (1)(0.925)) / 2 = -0.0375
    w = ctl.update(Signals(val_losses=LOSSES[2]))
    s = ctl.scores()
    np.testing.assert_allclose(s["slopes"], [-0.1, -0.0375], rtol=1e-12)
    # DF history alpha_max(2) = -0.0375 only: n = 1 -> DF = min(1 * 1, 1) = 1
    assert s["df"] == 1.0
    # RCS logits K * alpha / sum|alpha| = 2 * (-0.1, -0.0375) / 0.1375
    rcs = softmax_by_hand(2 * -0.1 / 0.1375, 2 * -0.0375 / 0.1375)
    np.testing.assert_allclose(s["rcs"], rcs, rtol=1e-12)
    # ACS over slopes s = 0..2 (n = 3): task 1 (0, -0.1, -0.1): -3 * -0.1 / 0.2;
    # task 2 (0, -0.05, -0.0375): -3 * -0.0375 / 0.0875
    acs = softmax_by_hand(-3 * -0.1 / 0.2, -3 * -0.0375 / 0.0875)
    np.testing.assert_allclose(s["acs"], acs, rtol=1e-12)
    np.testing.assert_allclose(w, rcs, rtol=1e-12)  # DF = 1: RCS only

    # t = 3: window s = 1..3; task 1 (0.9, 0.8, 0.75): (0.75 - 0.9) / 2 = -0.075;
    # task 2 (0.95, 0.925, 0.975): (0.975 - 0.95) / 2 = +0.0125 (rising)
    w = ctl.update(Signals(val_losses=LOSSES[3]))
    s = ctl.scores()
    np.testing.assert_allclose(s["slopes"], [-0.075, 0.0125], rtol=1e-12)
    # DF history (-0.0375, 0.0125): n = 2, sum 0.05, logits -5 * 2 * a / 0.05 = (7.5, -2.5)
    df = min(2 * softmax_by_hand(7.5, -2.5)[1], 1.0)  # = 2 / (1 + e^10), about 9.1e-5
    assert s["df"] == pytest.approx(df, rel=1e-12)
    rcs = softmax_by_hand(2 * -0.075 / 0.0875, 2 * 0.0125 / 0.0875)
    # ACS over s = 1..3: task 1 (-0.1, -0.1, -0.075) sum 0.275; task 2 (-0.05, -0.0375, 0.0125) sum 0.1
    acs = softmax_by_hand(-3 * -0.075 / 0.275, -3 * 0.0125 / 0.1)
    np.testing.assert_allclose(s["rcs"], rcs, rtol=1e-12)
    np.testing.assert_allclose(s["acs"], acs, rtol=1e-12)
    np.testing.assert_allclose(w, [df * r + (1 - df) * a for r, a in zip(rcs, acs)], rtol=1e-12)
    assert w[1] < w[0]  # the task turning upward loses weight although RCS favours it
    assert ctl.t == 4


# ---- the mftcoder variant, by hand ----------------------------------------------------------------
def test_mftcoder_trajectory_by_hand():
    ctl = coba(history_window=3, warmup_steps=1, tau=5.0, variant="mftcoder")
    ctl.start([2.0, 4.0])  # the denominators; here equal to the first update's losses

    np.testing.assert_array_equal(ctl.update(Signals(val_losses=LOSSES[0])), [0.5, 0.5])  # c = 0 < W

    # c = 1 = W: computed already (the paper variant is uniform here).
    # slopes (-0.1, -0.05); max-ratio curve (1, 0.95) -> slope -0.05; DF history (-0.05), n = 1 -> 1
    # ACS window min(c-W+1, N-W+1) = 1 slope: logits -1 * a / |a| = (1, 1) -> uniform
    w = ctl.update(Signals(val_losses=LOSSES[1]))
    s = ctl.scores()
    rcs = softmax_by_hand(2 * -0.1 / 0.15, 2 * -0.05 / 0.15)
    assert s["df"] == 1.0 and s["acs"] == [0.5, 0.5]
    np.testing.assert_allclose(s["rcs"], rcs, rtol=1e-12)
    np.testing.assert_allclose(w, softmax_by_hand(2 * rcs[0], 2 * rcs[1]), rtol=1e-12)  # softmax(K * mix)

    # c = 2: slopes (-0.1, -0.0375); max curve (1, 0.95, 0.925) -> slope -0.0375
    # DF history (-0.05, -0.0375): n = 2, sum 0.0875, logits -5 * 2 * a / 0.0875 (not clipped)
    w = ctl.update(Signals(val_losses=LOSSES[2]))
    s = ctl.scores()
    df = 2 * softmax_by_hand(-10 * -0.05 / 0.0875, -10 * -0.0375 / 0.0875)[1]  # = 2 / (1 + e^(10/7))
    assert s["df"] == pytest.approx(df, rel=1e-12)
    rcs = softmax_by_hand(2 * -0.1 / 0.1375, 2 * -0.0375 / 0.1375)
    # ACS window min(2, 3) = 2 slopes: task 1 (-0.1, -0.1) -> -2 * -0.1 / 0.2; task 2 (-0.05, -0.0375)
    acs = softmax_by_hand(-2 * -0.1 / 0.2, -2 * -0.0375 / 0.0875)
    np.testing.assert_allclose(s["acs"], acs, rtol=1e-12)
    mix = [df * r + (1 - df) * a for r, a in zip(rcs, acs)]
    np.testing.assert_allclose(w, softmax_by_hand(2 * mix[0], 2 * mix[1]), rtol=1e-12)

    # c = 3: max curve over the last 3 ratios (0.95, 0.925, 0.975) -> slope +0.0125
    # DF history (-0.05, -0.0375, 0.0125): n = 3, sum 0.1, logits -5 * 3 * a / 0.1 = -150 a
    w = ctl.update(Signals(val_losses=LOSSES[3]))
    df = 3 * softmax_by_hand(7.5, 5.625, -1.875)[2]
    assert ctl.scores()["df"] == pytest.approx(df, rel=1e-12)
    rcs = softmax_by_hand(2 * -0.075 / 0.0875, 2 * 0.0125 / 0.0875)
    acs = softmax_by_hand(-3 * -0.075 / 0.275, -3 * 0.0125 / 0.1)  # window min(3, 3) = 3
    mix = [df * r + (1 - df) * a for r, a in zip(rcs, acs)]
    expected = softmax_by_hand(2 * mix[0], 2 * mix[1])
    assert min(expected) >= 1 / 20  # no floor at this step
    np.testing.assert_allclose(w, expected, rtol=1e-12)


def test_mftcoder_ratio_denominators_come_from_start():
    with_start = coba(history_window=3, warmup_steps=0, variant="mftcoder")
    with_start.start([1.0, 1.0])
    without = coba(history_window=3, warmup_steps=0, variant="mftcoder")  # falls back to l(0)
    paper = coba(history_window=3, warmup_steps=0)
    paper.start([1.0, 1.0])  # ignored: the paper's l(0) is the first update's losses
    for ctl in (with_start, without, paper):
        for losses in LOSSES[:2]:
            ctl.update(Signals(val_losses=losses))
    # ratios to (1, 1): (2, 4) -> (1.8, 3.8): slopes (-0.2, -0.2); to l(0) = (2, 4): (-0.1, -0.05)
    np.testing.assert_allclose(with_start.scores()["slopes"], [-0.2, -0.2], rtol=1e-12)
    np.testing.assert_allclose(without.scores()["slopes"], [-0.1, -0.05], rtol=1e-12)
    np.testing.assert_allclose(paper.scores()["slopes"], [-0.1, -0.05], rtol=1e-12)


def test_mftcoder_df_can_exceed_one_and_paper_cannot():
    # accelerating convergence: the newest slopes are the steepest -> n * softmax[last] > 1
    paper, mft = (coba(3, history_window=4, warmup_steps=2, variant=v) for v in ("paper", "mftcoder"))
    dfs = {"paper": [], "mftcoder": []}
    for t in range(15):
        losses = [2.0 * (1 - 0.002 * t * t), 3.0 * (1 - 0.003 * t * t), 2.5 * (1 - 0.001 * t * t)]
        for name, ctl in (("paper", paper), ("mftcoder", mft)):
            ctl.update(Signals(val_losses=losses))
            dfs[name].append(ctl.scores()["df"])
    assert max(dfs["mftcoder"]) > 1.5
    assert max(dfs["paper"]) == 1.0


def test_warmup_boundaries_of_both_variants():
    losses = [[2.0 - 0.1 * t, 3.0 - 0.05 * t * t, 2.5 - 0.02 * t] for t in range(8)]
    paper, mft = (coba(3, history_window=5, warmup_steps=3, variant=v) for v in ("paper", "mftcoder"))
    for t, l in enumerate(losses):
        wp, wm = paper.update(Signals(val_losses=l)), mft.update(Signals(val_losses=l))
        assert np.array_equal(wp, [1 / 3] * 3) == (t <= 3)   # paper: uniform for t <= W
        assert np.array_equal(wm, [1 / 3] * 3) == (t < 3)    # mftcoder: computed from c = W


# ---- degenerate inputs --------------------------------------------------------------------------
def test_constant_losses_give_uniform_weights_without_nan():
    for variant in ("paper", "mftcoder"):
        ctl = coba(3, history_window=4, warmup_steps=1, variant=variant)
        for _ in range(10):
            w = ctl.update(Signals(val_losses=[1.0, 2.0, 3.0]))
        s = ctl.scores()
        assert s["slopes"] == [0.0, 0.0, 0.0] and s["df"] == 1.0  # all-zero slopes: DF sum 0 -> 1
        np.testing.assert_allclose(s["rcs"], [1 / 3] * 3)  # RCS sum 0 -> uniform
        np.testing.assert_allclose(s["acs"], [1 / 3] * 3)  # every ACS denominator 0 -> logits 0
        np.testing.assert_allclose(w, [1 / 3] * 3)


def test_acs_of_a_flat_task_is_a_zero_logit():
    ctl = coba(2, history_window=3, warmup_steps=0)
    for t in range(4):
        ctl.update(Signals(val_losses=[1.0, 2.0 - 0.1 * t]))  # task 1 flat, task 2 falls 0.05 per step in ratio
    # window of slopes s = 1..3 for task 2: all -0.05 -> logit -3 * -0.05 / 0.15 = 1; task 1: 0
    np.testing.assert_allclose(ctl.scores()["acs"], softmax_by_hand(0.0, 1.0), rtol=1e-12)


def test_non_finite_losses_are_skipped(caplog):
    ctl = coba(3, history_window=4, warmup_steps=1)
    rng = np.random.default_rng(0)
    for _ in range(6):
        ctl.update(Signals(val_losses=rng.uniform(1, 2, 3)))
    before_w, before_state, before_scores = ctl.weights, ctl.state_dict(), ctl.scores()
    for bad in ([float("nan"), 1.0, 1.0], [1.0, float("inf"), 1.0], [1.0, 1.0, -float("inf")]):
        with caplog.at_level(logging.WARNING, logger="mft.weighting.coba"):
            caplog.clear()
            w = ctl.update(Signals(val_losses=bad))
        assert len(caplog.records) == 1 and "non-finite" in caplog.records[0].getMessage()
        np.testing.assert_array_equal(w, before_w)
        assert ctl.t == 6 and ctl.state_dict() == before_state and ctl.scores() == before_scores


def test_non_finite_first_update_does_not_set_l0():
    ctl = coba(2, history_window=3, warmup_steps=0)
    ctl.update(Signals(val_losses=[float("nan"), 1.0]))
    assert ctl.t == 0
    ctl.update(Signals(val_losses=[2.0, 4.0]))
    ctl.update(Signals(val_losses=[1.8, 3.8]))
    np.testing.assert_allclose(ctl.scores()["slopes"], [-0.1, -0.05], rtol=1e-12)  # l(0) = (2, 4)


def test_zero_or_negative_denominator_is_a_clear_error():
    for first in ([0.0, 1.0], [-1.0, 1.0]):
        ctl = coba(2, history_window=3, warmup_steps=0)
        with pytest.raises(ValueError, match=r"l_i\(0\) must be > 0.*tasks \[0\]"):
            ctl.update(Signals(val_losses=first))
        assert ctl.t == 0  # unchanged; a valid first update still works
        ctl.update(Signals(val_losses=[1.0, 1.0]))
    mft = coba(2, history_window=3, warmup_steps=0, variant="mftcoder")
    with pytest.raises(ValueError, match="start\\(\\) needs finite validation losses > 0"):
        mft.start([0.0, 1.0])
    mft.update(Signals(val_losses=[1.0, 1.0]))
    with pytest.raises(RuntimeError, match="before the first update"):
        mft.start([1.0, 1.0])


def test_bad_input_shapes():
    ctl = coba(3, history_window=3, warmup_steps=0)
    with pytest.raises(ValueError, match="3 tasks, got shape \\(2,\\)"):
        ctl.update(Signals(val_losses=[1.0, 2.0]))
    with pytest.raises(ValueError, match="needs val_losses="):
        ctl.update()


def test_accepts_lists_arrays_and_tensors():
    import torch

    a, b, c = (coba(2, history_window=3, warmup_steps=0) for _ in range(3))
    for losses in LOSSES:
        wa = a.update(Signals(val_losses=losses))
        wb = b.update(Signals(val_losses=np.array(losses)))
        wc = c.update(Signals(val_losses=torch.tensor(losses, dtype=torch.float64)))
    assert wa.tolist() == wb.tolist() == wc.tolist()
    assert isinstance(wa, np.ndarray) and wa.dtype == np.float64 and wa.shape == (2,)


# ---- behaviour on synthetic histories -------------------------------------------------------------
def synthetic_losses(steps, turn=None):
    """Three tasks converging linearly in ratio; with ``turn``, task 3's loss rises after it."""
    l0, rate = np.array([2.0, 3.0, 2.5]), np.array([0.010, 0.012, 0.008])
    out = []
    for t in range(steps):
        loss = l0 * (1 - rate * t)
        if turn is not None and t > turn:
            loss[2] = l0[2] * (1 - rate[2] * turn) + 0.02 * (t - turn)
        out.append(loss)
    return out


@pytest.mark.parametrize("variant", ["paper", "mftcoder"])
def test_diverging_task_loses_weight_and_df_drops(variant):
    ctl = coba(3, history_window=10, warmup_steps=5, tau=5.0, variant=variant)
    dfs, weights = [], []
    for losses in synthetic_losses(60, turn=30):
        weights.append(ctl.update(Signals(val_losses=losses)))
        dfs.append(ctl.scores()["df"])
    assert min(dfs[6:31]) > 1 - 1e-9          # all converging: DF stays 1
    assert dfs[35] < 0.1 and dfs[40] < 1e-3   # within a few steps of the turn DF heads to 0
    final = weights[-1]
    assert final[2] < 0.5 * min(final[0], final[1])
    assert ctl.scores()["slopes"][2] > 0


@pytest.mark.parametrize("variant", ["paper", "mftcoder"])
def test_all_converging_history_keeps_df_at_one(variant):
    ctl = coba(3, history_window=10, warmup_steps=5, variant=variant)
    for t, losses in enumerate(synthetic_losses(60)):
        ctl.update(Signals(val_losses=losses))
        if t > 5:
            assert ctl.scores()["df"] == pytest.approx(1.0, abs=1e-9)


# ---- incremental state equals a from-scratch recomputation ----------------------------------------
def from_scratch(losses, n, w, tau, variant, start=None):
    """Weights at the last step, recomputed from the whole history with plain loops and ols_slope."""
    losses = np.asarray(losses)
    denom = losses[0] if start is None else np.asarray(start)
    r = losses / denom
    k, t_now = r.shape[1], len(r) - 1

    def slopes_at(t):
        lo = max(0, t - n + 1)
        return np.array([cm.ols_slope(r[lo:t + 1, i]) for i in range(k)])

    alpha = np.array([slopes_at(t) for t in range(t_now + 1)])  # (t+1, K)
    if variant == "paper":
        if t_now <= w:
            return np.full(k, 1 / k)
        df = cm.divergence_factor_paper([alpha[s].max() for s in range(w + 1, t_now + 1)], tau)
        acs = cm.absolute_convergence_scores(alpha[max(0, t_now - n + 1):].T)
        return cm.combine_paper(df, cm.relative_convergence_scores(alpha[t_now]), acs)
    if t_now < w:
        return np.full(k, 1 / k)
    beta = [cm.ols_slope(r[max(0, c - n + 1):c + 1].max(axis=1)) for c in range(w, t_now + 1)]
    df = cm.divergence_factor_mftcoder(beta, tau)
    m = cm.mftcoder_acs_window(t_now, n, w)
    acs = cm.absolute_convergence_scores(alpha[t_now - m + 1:].T)
    return cm.combine_mftcoder(df, cm.relative_convergence_scores(alpha[t_now]), acs)


@pytest.mark.parametrize("variant, n, w", [("paper", 4, 2), ("paper", 3, 0), ("mftcoder", 4, 2),
                                           ("mftcoder", 3, 0), ("mftcoder", 2, 5)])
def test_controller_matches_from_scratch_recomputation(variant, n, w):
    rng = np.random.default_rng(1)
    losses = np.cumprod(rng.uniform(0.95, 1.04, size=(30, 3)), axis=0) * [2.0, 3.0, 1.5]
    start = [2.1, 2.9, 1.6] if variant == "mftcoder" else None
    ctl = coba(3, history_window=n, warmup_steps=w, tau=3.0, variant=variant)
    if start:
        ctl.start(start)
    for t in range(len(losses)):  # 30 steps > 2N: the trailing windows wrap several times
        got = ctl.update(Signals(val_losses=losses[t]))
        np.testing.assert_allclose(got, from_scratch(losses[:t + 1], n, w, 3.0, variant, start),
                                   rtol=1e-10, atol=1e-15)


# ---- checkpointing -------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["paper", "mftcoder"])
def test_state_dict_round_trip_is_bitwise(variant):
    rng = np.random.default_rng(2)
    losses = np.cumprod(rng.uniform(0.95, 1.04, size=(50, 3)), axis=0) * [2.0, 3.0, 1.5]
    params = dict(history_window=8, warmup_steps=5, tau=5.0, variant=variant)
    a = coba(3, **params)
    a.start([2.0, 3.0, 1.5])
    for row in losses[:30]:
        a.update(Signals(val_losses=row))
    snapshot = json.loads(json.dumps(a.state_dict()))  # as it would travel through a checkpoint
    a_weights = [a.update(Signals(val_losses=row)) for row in losses[30:]]
    b = coba(3, **params)
    b.load_state_dict(snapshot)
    assert b.t == 30
    b_weights = [b.update(Signals(val_losses=row)) for row in losses[30:]]
    for wa, wb in zip(a_weights, b_weights):
        assert wa.tobytes() == wb.tobytes()
    assert a.state_dict() == b.state_dict() and a.scores() == b.scores()


def test_state_round_trip_before_the_first_update():
    a = coba(2, history_window=3, warmup_steps=0, variant="mftcoder")
    a.start([1.0, 1.0])
    b = coba(2, history_window=3, warmup_steps=0, variant="mftcoder")
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for losses in LOSSES:
        assert a.update(Signals(val_losses=losses)).tobytes() == b.update(Signals(val_losses=losses)).tobytes()
    # ratios to start() = 1: task 1's last three are 1.8, 1.6, 1.5 -> slope (1.5 - 1.8) / 2
    np.testing.assert_allclose(b.scores()["slopes"][0], -0.15, rtol=1e-12)


def test_start_checks_the_shape_in_both_variants():
    for variant in ("paper", "mftcoder"):
        with pytest.raises(ValueError, match="2 tasks, got shape \\(3,\\)"):
            coba(2, history_window=3, warmup_steps=0, variant=variant).start([1.0, 2.0, 3.0])


def test_load_state_dict_refuses_another_configuration():
    a = coba(3, history_window=8, warmup_steps=5)
    a.update(Signals(val_losses=[1.0, 2.0, 3.0]))
    state = a.state_dict()
    with pytest.raises(ValueError, match="history_window=8"):
        coba(3, history_window=9, warmup_steps=5).load_state_dict(state)
    with pytest.raises(ValueError, match="variant='paper'"):
        coba(3, history_window=8, warmup_steps=5, variant="mftcoder").load_state_dict(state)
    with pytest.raises(ValueError, match="method='uniform'"):
        coba(3, history_window=8, warmup_steps=5).load_state_dict(build_weighting("uniform", 3).state_dict())


def test_scores_before_any_update_and_json_serialisable():
    ctl = coba(3, history_window=4, warmup_steps=1)
    assert ctl.scores() == {"rcs": [1 / 3] * 3, "acs": [1 / 3] * 3, "df": 1.0, "slopes": [0.0] * 3}
    for t in range(6):
        ctl.update(Signals(val_losses=[1.0 + t, 2.0, 3.0 - 0.1 * t]))
    json.dumps(ctl.scores())
    json.dumps(ctl.state_dict())


# ---- invariants on random input ------------------------------------------------------------------
loss_values = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def runs(draw):
    k = draw(st.integers(1, 4))
    steps = draw(st.integers(1, 40))
    losses = draw(st.lists(st.lists(loss_values, min_size=k, max_size=k), min_size=steps, max_size=steps))
    params = dict(variant=draw(st.sampled_from(["paper", "mftcoder"])),
                  history_window=draw(st.integers(2, 8)), warmup_steps=draw(st.integers(0, 6)),
                  tau=draw(st.floats(0.1, 20.0)))
    return k, losses, params


@settings(max_examples=150, deadline=None)
@given(runs())
def test_weights_are_a_distribution_for_any_finite_losses(run):
    k, losses, params = run
    ctl = coba(k, **params)
    for row in losses:
        w = ctl.update(Signals(val_losses=row))
        assert w.shape == (k,) and np.isfinite(w).all()
        assert (w >= 0).all()
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        s = ctl.scores()
        assert np.isfinite(s["df"]) and s["df"] >= 0
        if params["variant"] == "paper":
            assert s["df"] <= 1.0


def test_ablations_fix_the_divergence_factor():
    """coba_no_rcs: w = ACS; coba_no_acs: w = RCS; coba_no_df: w = (RCS + ACS) / 2 (after warm-up)."""
    losses = [[3.0, 2.0, 4.0], [2.5, 1.9, 3.0], [2.2, 1.85, 2.5], [2.1, 1.9, 2.2], [2.05, 1.97, 2.0]]
    full = build_weighting("coba", num_tasks=3, history_window=3, warmup_steps=1)
    ablated = {a: build_weighting("coba", num_tasks=3, history_window=3, warmup_steps=1, ablate=a)
               for a in ("rcs", "acs", "df")}
    for row in losses:
        full.update(Signals(val_losses=row))
        for ctl in ablated.values():
            ctl.update(Signals(val_losses=row))
    rcs, acs = np.array(full.scores()["rcs"]), np.array(full.scores()["acs"])
    assert np.allclose(ablated["rcs"].weights, acs)
    assert np.allclose(ablated["acs"].weights, rcs)
    assert np.allclose(ablated["df"].weights, (rcs + acs) / 2)
    assert ablated["df"].scores()["df"] == 0.5
    with pytest.raises(ValueError, match="weighting.params.ablate"):
        build_weighting("coba", num_tasks=3, history_window=3, warmup_steps=1, ablate="dff")
