"""CoBa's equations (mft.weighting.coba_math) against numbers worked out by hand.

Each expected value is written as the arithmetic of the equation it checks (arXiv 2410.06741,
eqs. 2-7; docs/design.md, "CoBa"), small enough to redo on paper.
"""
import math
import warnings

import numpy as np
import pytest

from mft.weighting import coba_math as cm


def softmax_by_hand(*logits):
    e = [math.exp(z) for z in logits]
    return [v / sum(e) for v in e]


# ---- slopes ------------------------------------------------------------------------------------
def test_ols_slope_hand_numbers():
    # y = 1, 3, 2 at x = 0, 1, 2: mean x 1, mean y 2; sum (x-1)(y-2) = (-1)(-1) + 0 + (1)(0) = 1;
    # sum (x-1)^2 = 2 -> slope 1/2
    assert cm.ols_slope([1.0, 3.0, 2.0]) == pytest.approx(0.5, abs=1e-15)
    # same y at x = 0, 2, 4: sum (x-2)(y-2) = (-2)(-1) + 0 + (2)(0) = 2; sum (x-2)^2 = 8 -> 1/4
    assert cm.ols_slope([1.0, 3.0, 2.0], x=[0.0, 2.0, 4.0]) == pytest.approx(0.25, abs=1e-15)
    # an exact line y = 3 - 0.5 x
    assert cm.ols_slope([3.0 - 0.5 * x for x in range(5)]) == pytest.approx(-0.5, abs=1e-15)


def test_ols_slope_needs_two_points():
    assert cm.ols_slope([]) == 0.0
    assert cm.ols_slope([4.2]) == 0.0  # alpha_i(t) = 0 while t < 1
    assert cm.ols_slope([1.0, 2.0], x=[3.0, 3.0]) == 0.0  # all x equal: no slope to fit
    with pytest.raises(ValueError, match="shape"):
        cm.ols_slope([1.0, 2.0], x=[0.0, 1.0, 2.0])


def test_window_slopes_hand_numbers():
    ratios = [[1.0, 0.9, 0.8],      # falls 0.1 a step -> slope -0.1
              [1.0, 0.95, 0.925]]   # centred x = -1, 0, 1: (-1)(1) + (1)(0.925) = -0.075; / 2
    np.testing.assert_allclose(cm.window_slopes(ratios), [-0.1, -0.075 / 2], rtol=1e-12)
    np.testing.assert_array_equal(cm.window_slopes([[1.0], [2.0]]), [0.0, 0.0])  # one point


def test_window_slopes_equal_ols_slope_row_by_row():
    rows = np.random.default_rng(0).normal(size=(4, 9))
    np.testing.assert_allclose(cm.window_slopes(rows), [cm.ols_slope(r) for r in rows], rtol=1e-12)


def test_max_ratio_curve_slope_takes_max_first_then_fits():
    ratios = [[1.0, 0.9, 0.8], [1.0, 0.95, 0.925]]
    # max over tasks per step: 1.0, 0.95, 0.925 -> slope (0.925 - 1.0) / 2
    assert cm.max_ratio_curve_slope(ratios) == pytest.approx(-0.0375, rel=1e-12)
    # crossing curves: task slopes -0.4 and +0.1, so the max of the slopes is +0.1 (paper's DF
    # input), but the max curve is 1.0, 0.6, 0.7 with slope (0.7 - 1.0) / 2 = -0.15 (MFTCoder's)
    crossing = [[1.0, 0.6, 0.2], [0.5, 0.6, 0.7]]
    assert max(cm.window_slopes(crossing)) == pytest.approx(0.1, rel=1e-12)
    assert cm.max_ratio_curve_slope(crossing) == pytest.approx(-0.15, rel=1e-12)


# ---- RCS -----------------------------------------------------------------------------------------
def test_rcs_hand_numbers():
    # slopes -0.2, -0.1: sum |.| = 0.3; logits K*alpha/sum = 2*(-0.2/0.3), 2*(-0.1/0.3)
    expected = softmax_by_hand(2 * (-0.2 / 0.3), 2 * (-0.1 / 0.3))
    rcs = cm.relative_convergence_scores([-0.2, -0.1])
    np.testing.assert_allclose(rcs, expected, rtol=1e-12)
    assert rcs[1] > rcs[0]  # the slower-converging task gets more weight
    # K = 3 with one rising task: sum = 0.2; logits 3 * (-0.5, 0, 0.5)
    np.testing.assert_allclose(cm.relative_convergence_scores([-0.1, 0.0, 0.1]),
                               softmax_by_hand(-1.5, 0.0, 1.5), rtol=1e-12)


def test_rcs_uniform_when_all_slopes_zero():
    np.testing.assert_array_equal(cm.relative_convergence_scores([0.0, 0.0, 0.0]), [1 / 3] * 3)


# ---- ACS -----------------------------------------------------------------------------------------
def test_acs_hand_numbers():
    window = [[-0.1, -0.2, -0.3],   # n = 3; sum |.| = 0.6; logit -3 * (-0.3) / 0.6 = 1.5
              [0.0, 0.1, 0.2]]      # sum |.| = 0.3; logit -3 * 0.2 / 0.3 = -2
    acs = cm.absolute_convergence_scores(window)
    np.testing.assert_allclose(acs, softmax_by_hand(1.5, -2.0), rtol=1e-12)
    assert acs[1] < acs[0]  # the rising task loses weight


def test_acs_task_with_zero_denominator_contributes_zero_logit():
    window = [[0.0, 0.0, 0.0],      # denominator 0 -> logit 0
              [-0.1, -0.1, -0.1]]   # logit -3 * (-0.1) / 0.3 = 1
    np.testing.assert_allclose(cm.absolute_convergence_scores(window), softmax_by_hand(0.0, 1.0), rtol=1e-12)
    np.testing.assert_array_equal(cm.absolute_convergence_scores(np.zeros((2, 4))), [0.5, 0.5])


# ---- DF ------------------------------------------------------------------------------------------
def test_df_paper_between_zero_and_one():
    # alpha_max over s = W+1..t: -0.3, -0.2, -0.1; n = 3, sum |.| = 0.6, tau = 0.5
    # logits -tau*n*a/sum = -0.5*3*a/0.6 = -2.5 a = 0.75, 0.5, 0.25; DF = 3 * softmax(...)[last]
    p_last = softmax_by_hand(0.75, 0.5, 0.25)[2]
    assert 3 * p_last < 1
    assert cm.divergence_factor_paper([-0.3, -0.2, -0.1], tau=0.5) == pytest.approx(3 * p_last, rel=1e-12)


def test_df_clipped_at_one_in_paper_not_in_mftcoder():
    # -0.3 as the newest max slope, lowest so far: logits -25 a = -2.5, 5, 7.5 (tau = 5)
    p_last = softmax_by_hand(-2.5, 5.0, 7.5)[2]
    assert 3 * p_last > 1  # about 2.77
    assert cm.divergence_factor_paper([0.1, -0.2, -0.3], tau=5.0) == 1.0
    assert cm.divergence_factor_mftcoder([0.1, -0.2, -0.3], tau=5.0) == pytest.approx(3 * p_last, rel=1e-12)


def test_df_near_zero_when_the_max_slope_rises():
    # logits -25 a = 7.5, 5, -2.5: the newest (rising) slope gets almost no mass
    p_last = softmax_by_hand(7.5, 5.0, -2.5)[2]
    df = cm.divergence_factor_paper([-0.3, -0.2, 0.1], tau=5.0)
    assert df == pytest.approx(3 * p_last, rel=1e-12)
    assert df < 2e-4


def test_df_edge_cases():
    assert cm.divergence_factor_paper([0.0, 0.0], tau=5.0) == 1.0        # sum 0 -> 1
    assert cm.divergence_factor_mftcoder([0.0, 0.0, 0.0], tau=5.0) == 1.0
    assert cm.divergence_factor_paper([-0.4], tau=5.0) == 1.0            # n = 1: 1 * 1
    with pytest.raises(ValueError, match="empty"):
        cm.divergence_factor_paper([], tau=5.0)
    # a running abs_sum gives the same value as the recompute
    h = [-0.3, -0.2, 0.1]
    assert cm.divergence_factor_paper(h, 5.0, abs_sum=0.6) == pytest.approx(
        cm.divergence_factor_paper(h, 5.0), rel=1e-12)


def test_df_stable_on_long_histories_with_extreme_logits():
    rng = np.random.default_rng(0)
    h = -np.abs(rng.normal(size=100_000)) * 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid warnings
        # direct log-sum-exp reference
        z = -5.0 * h.size * h / np.abs(h).sum()
        ref = h.size * math.exp(z[-1] - z.max() - math.log(np.exp(z - z.max()).sum()))
        assert cm.divergence_factor_mftcoder(h, 5.0) == pytest.approx(ref, rel=1e-9)
        h[0] = -1e6  # one slope dominating: the newest gets exp(-huge) -> DF 0, no overflow warning
        assert cm.divergence_factor_paper(h, 5.0) == 0.0
        assert cm.divergence_factor_paper([1e-320, 2e-320], 5.0) >= 0.0  # subnormal sum


# ---- final weights -------------------------------------------------------------------------------
def test_combine_paper_hand_numbers():
    # 0.25 * (0.6, 0.4) + 0.75 * (0.2, 0.8) = (0.15 + 0.15, 0.1 + 0.6)
    np.testing.assert_allclose(cm.combine_paper(0.25, [0.6, 0.4], [0.2, 0.8]), [0.3, 0.7], rtol=1e-12)


def test_combine_mftcoder_softmax_of_k_times_mix():
    # mix (0.3, 0.7) as above; logits K * mix = 0.6, 1.4; no weight below 1/(10K) = 0.05
    np.testing.assert_allclose(cm.combine_mftcoder(0.25, [0.6, 0.4], [0.2, 0.8]),
                               softmax_by_hand(0.6, 1.4), rtol=1e-12)


def test_combine_mftcoder_floor_when_a_weight_falls_below_one_tenth_of_uniform():
    # DF = 2 (unclipped): mix = 2*RCS - 1*ACS = (1.96 - 0.01, 0.02 - 0.98, 0.02 - 0.01)
    rcs, acs = [0.98, 0.01, 0.01], [0.01, 0.98, 0.01]
    s = softmax_by_hand(3 * 1.95, 3 * -0.96, 3 * 0.01)
    assert s[1] < 1 / 30
    expected = [0.9 * v + 0.1 / 3 for v in s]  # w * (1 - K/(10K)) + 1/(10K)
    w = cm.combine_mftcoder(2.0, rcs, acs)
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    assert w.min() >= 1 / 30 and w.sum() == pytest.approx(1.0, abs=1e-15)


def test_mftcoder_floor_is_strictly_below():
    np.testing.assert_array_equal(cm.mftcoder_floor([0.05, 0.95]), [0.05, 0.95])  # 1/(10*2) is not below
    np.testing.assert_allclose(cm.mftcoder_floor([0.04, 0.96]), [0.9 * 0.04 + 0.05, 0.9 * 0.96 + 0.05])


def test_mftcoder_acs_window_lengths():
    assert cm.mftcoder_acs_window(3, 6, 3) == 1    # c = W: one slope
    assert cm.mftcoder_acs_window(5, 6, 3) == 3    # c - W + 1
    assert cm.mftcoder_acs_window(20, 6, 3) == 4   # N - W + 1
    assert cm.mftcoder_acs_window(20, 6, 0) == 7   # W = 0: N + 1 slopes
    assert cm.mftcoder_acs_window(20, 2, 5) == 1   # N < W - 1: clamped (MFTCoder would slice nothing)


def test_softmax_stable():
    np.testing.assert_array_equal(cm.softmax([1000.0, 1000.0]), [0.5, 0.5])
    np.testing.assert_allclose(cm.softmax([0.0, math.log(3.0)]), [0.25, 0.75], rtol=1e-12)
