"""CoBa's equations as pure functions over NumPy arrays (float64).

Source: Gong et al., "CoBa: Convergence Balancer for Multitask Finetuning of Large Language
Models", arXiv 2410.06741 (EMNLP 2024), Section 3 and Algorithm 1. Each function cites the
equation it implements: the slope, eqs. (2)-(3); RCS, eq. (4); ACS, eq. (5); final weights,
eq. (6); DF, eq. (7). Where the paper can be read two ways, the reading of docs/design.md
("CoBa") is the one implemented and each function says which. The ``*_mftcoder``
functions reproduce the authors' released code (codefuse-ai/MFTCoder at 8ba13f4,
``utils/loss_utils.py``, ``CoBaStatus.compute_per_task_weight``).

Notation: K tasks, r_i(t) the validation-loss ratio of task i at controller step t, alpha_i(t) the
slope of r_i fitted over the last N steps, W the warm-up, tau the temperature.
Every function here is stateless; ``mft.weighting.coba.CoBa`` keeps the histories and calls them.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .functional import softmax


def ols_slope(y: ArrayLike, x: ArrayLike | None = None) -> float:
    """Ordinary least-squares slope of y against x (default x = 0, 1, ..., n-1).

    slope = sum((x - mean x) * (y - mean y)) / sum((x - mean x)^2); 0.0 for fewer than two points
    (or all x equal): alpha_i(t) = 0 while t < 1 (paper, after eq. 3). The paper fits a line to the
    ratio history of each task by least squares (eqs. 2-3).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2:
        return 0.0
    x = np.arange(y.size, dtype=np.float64) if x is None else np.asarray(x, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ols_slope: x has shape {x.shape}, y has shape {y.shape}")
    xc = x - x.mean()
    sxx = float((xc * xc).sum())
    if sxx == 0.0:
        return 0.0
    return float((xc * (y - y.mean())).sum() / sxx)


def window_slopes(ratio_window: ArrayLike) -> np.ndarray:
    """alpha_i(t) for every task: the OLS slope of each row of ``ratio_window`` (K, n) against
    s = 0..n-1, where the row holds r_i(s) for the last n = min(N, t+1) steps (slopes do not depend
    on where x starts). Zeros when n < 2. Same numbers as ``ols_slope`` row by row, vectorised.

    Uses elementwise products and ``sum`` rather than a BLAS matrix-vector product, whose result
    can depend on memory layout: a resumed controller must give the same bits as an uninterrupted one.
    """
    r = np.asarray(ratio_window, dtype=np.float64)
    k, n = r.shape
    if n < 2:
        return np.zeros(k)
    xc = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    sxx = n * (n * n - 1) / 12.0  # sum of xc^2 for x = 0..n-1
    return ((r - r.mean(axis=1, keepdims=True)) * xc).sum(axis=1) / sxx


def max_ratio_curve_slope(ratio_window: ArrayLike) -> float:
    """mftcoder variant's DF input: the OLS slope of the per-step MAXIMUM ratio curve,
    m(s) = max_i r_i(s) over the window, i.e. max first, then fit (MFTCoder's
    ``total_slope_fitting``); the paper instead takes the maximum of the task slopes."""
    r = np.asarray(ratio_window, dtype=np.float64)
    return float(window_slopes(r.max(axis=0)[None, :])[0])


def relative_convergence_scores(slopes: ArrayLike) -> np.ndarray:
    """RCS (paper eq. 4, "Relative Convergence Score"):

        RCS_i(t) = softmax_i( K * alpha_i(t) / sum_j |alpha_j(t)| )

    A task converging more slowly than the others (larger slope) gets more weight. Uniform when
    every slope is 0 (the sum is 0; docs/design.md, "CoBa"). The division comes first, so |.| <= 1 before
    scaling by K and nothing can overflow.
    """
    a = np.asarray(slopes, dtype=np.float64)
    k = a.size
    total = float(np.abs(a).sum())
    if total == 0.0:
        return np.full(k, 1.0 / k)
    return softmax(k * (a / total))


def absolute_convergence_scores(slope_window: ArrayLike) -> np.ndarray:
    """ACS (paper eq. 5, "Absolute Convergence Score"):

        ACS_i(t) = softmax_i( -n * alpha_i(t) / sum_s |alpha_i(s)| )

    ``slope_window`` is (K, n) with columns alpha(s) for the n steps of the window, the last column
    being the current step t. For the paper variant the window is s = max(0, t-N+1)..t, so
    n = min(N, t+1); for the mftcoder variant see ``mftcoder_acs_window``. A task whose
    denominator is 0 contributes 0 inside the softmax (docs/design.md, "CoBa"). A task whose own loss rises
    (positive current slope) gets a negative logit, whatever the other tasks do.
    """
    h = np.asarray(slope_window, dtype=np.float64)
    k, n = h.shape
    denom = np.abs(h).sum(axis=1)
    z = np.zeros(k)
    ok = denom > 0.0
    z[ok] = -n * (h[ok, -1] / denom[ok])
    return softmax(z)


def n_times_last_softmax(history: ArrayLike, tau: float, abs_sum: float | None = None) -> float:
    """n * softmax_s( -tau * n * h(s) / sum_u |h(u)| )[s = last]; 1.0 when the sum is 0.

    Only the last element is needed: softmax[last] = 1 / sum_s exp(c * (h_last - h_s)) with
    c = tau * n / sum|h|. The s = last term is exactly 1, so the sum is >= 1; an overflowing term
    gives inf and the result 0.0, which is the value to double precision. One O(n) NumPy pass, no
    refits (about 165 us at n = 1e5).
    """
    h = np.asarray(history, dtype=np.float64)
    n = h.size
    if n == 0:
        raise ValueError("the divergence-factor history is empty (DF is defined after warm-up)")
    total = float(np.abs(h).sum()) if abs_sum is None else float(abs_sum)
    if total == 0.0:
        return 1.0
    c = tau * n / total
    d = np.subtract(h, h[-1])  # h_s - h_last; |.| <= total
    if np.isfinite(c):
        d *= -c
    else:  # total is subnormal: divide first so nothing overflows before the exp
        d /= -total
        d *= tau * n
    with np.errstate(over="ignore"):
        np.exp(d, out=d)
    return float(n / d.sum())


def divergence_factor_paper(alpha_max_history: ArrayLike, tau: float, abs_sum: float | None = None) -> float:
    """DF (paper eq. 7, "Divergence Factor"), as docs/design.md ("CoBa") reads it:

        DF(t) = min( n * softmax_s( -tau * n * alpha_max(s) / sum_u |alpha_max(u)| )[s = t], 1 )

    over s, u = W+1..t, n = t - W, alpha_max(s) = max_i alpha_i(s); 1 when the sum is 0.
    ``alpha_max_history`` holds alpha_max(W+1..t), the current step last. Two readings are fixed
    there: the history starts after warm-up (the paper's runs from step 1, which lets the
    noisy first slopes pin DF near 0) with n in place of t, and the denominator takes absolute
    values (without them a negative sum would reward divergence).
    DF near 1: the largest task slope is as low as it has been, so RCS leads; DF near 0: the
    largest slope has risen above its history (a task diverges), so ACS leads.
    ``abs_sum`` lets the caller pass its running sum_u |alpha_max(u)| instead of a recompute.
    """
    return min(n_times_last_softmax(alpha_max_history, tau, abs_sum), 1.0)


def divergence_factor_mftcoder(max_ratio_slope_history: ArrayLike, tau: float,
                               abs_sum: float | None = None) -> float:
    """DF of the authors' code (MFTCoder 8ba13f4): the same n * softmax(...)[last] as
    ``divergence_factor_paper`` but over the slopes of the maximum-ratio curve
    (``max_ratio_curve_slope``) from step c = W on (n = c - W + 1, no window), and NOT clipped at
    1: it can exceed 1, which gives ACS a negative coefficient in the final mix. 1 when the sum
    is 0 (MFTCoder divides by zero there). ``abs_sum``: as there."""
    return n_times_last_softmax(max_ratio_slope_history, tau, abs_sum)


def paper_acs_window(t: int, history_window: int) -> int:
    """Number of most recent slopes in the paper variant's ACS window at step t: n = min(N, t+1).

    A READING of eq. 5, which prints N (the sum over j = t-N+1..t and the factor -N): before N
    slopes exist, the window holds the t+1 that do, and n replaces N in the numerator so that the
    logit's scale does not depend on how full the window is."""
    return min(history_window, t + 1)


def mftcoder_acs_window(c: int, history_window: int, warmup_steps: int) -> int:
    """Number of most recent slopes in the mftcoder variant's ACS window at step c >= W:
    min(c - W + 1, N - W + 1) (MFTCoder slices its slope list, which starts at c = W, from column
    max(0, c - N)). Clamped to at least 1: with N < W - 1 MFTCoder's slice is empty (NaN weights)."""
    return max(1, min(c - warmup_steps + 1, history_window - warmup_steps + 1))


def combine_paper(df: float, rcs: ArrayLike, acs: ArrayLike) -> np.ndarray:
    """Final weights after warm-up (paper eq. 6 and Algorithm 1):
    w(t) = DF(t) * RCS(t) + (1 - DF(t)) * ACS(t). With DF in [0, 1] this is a convex mix of two
    distributions, hence non-negative and summing to 1. (Uniform 1/K for t <= W is the caller's.)"""
    return df * np.asarray(rcs, dtype=np.float64) + (1.0 - df) * np.asarray(acs, dtype=np.float64)


def mftcoder_floor(weights: ArrayLike) -> np.ndarray:
    """MFTCoder's minimum-weight rule: if any w_i < 1/(10K), every weight becomes
    0.9 * w_i + 0.1 / K (= w * (1 - K * 1/(10K)) + 1/(10K)); otherwise unchanged."""
    w = np.asarray(weights, dtype=np.float64)
    k = w.size
    if (w < 1.0 / (10 * k)).any():
        return 0.9 * w + 0.1 / k
    return w


def combine_mftcoder(df: float, rcs: ArrayLike, acs: ArrayLike) -> np.ndarray:
    """Final weights of the authors' code: softmax(K * (DF * RCS + (1 - DF) * ACS)), then the
    1/(10K) floor rule (``mftcoder_floor``). DF may exceed 1 here."""
    mix = combine_paper(df, rcs, acs)
    return mftcoder_floor(softmax(mix.size * mix))
