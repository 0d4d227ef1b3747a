"""The baseline weighting rules as pure functions over NumPy float64 arrays.

Each function states the rule it implements and cites its source; the controllers in ``lbtw``,
``gradnorm``, ``famo``, ``dwa``, ``uncertainty`` and ``rlw`` keep the state and call them. Arrays
passed here hold only the tasks taking part in the step (the controllers select them).

- LBTW: Liu, Liang, Gitter, "Loss-Balanced Task Weighting to Reduce Negative Transfer in
  Multi-Task Learning", AAAI 2019 (student abstract).
- GradNorm: Chen, Badrinarayanan, Lee, Rabinovich, "GradNorm: Gradient Normalization for
  Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018, Section 3.
- FAMO: Liu, Liu, Jiang, Stone, Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023,
  and its reference code (Cranial-XIX/FAMO, ``FAMO.get_weighted_loss`` / ``FAMO.update``).
- DWA: Liu, Johns, Davison, "End-to-End Multi-Task Learning with Attention" (MTAN), CVPR 2019, eq. 5.
- Uncertainty: Kendall, Gal, Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses
  for Scene Geometry and Semantics", CVPR 2018, eq. 7 with s = log sigma^2.
- RLW: Lin, Ye, Xu, Shi, Zhang, "Reasonable Effectiveness of Random Weighting: A Litmus Test
  for Multi-Task Learning", TMLR 2022 (arXiv 2111.10603, 2021).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .functional import softmax

FAMO_EPS = 1e-8  # the reference code's constant inside log(l - m + 1e-8)


def normalise(raw: ArrayLike) -> np.ndarray:
    """raw / sum(raw) for non-negative finite raw weights; uniform 1/K when the sum is 0 or not
    finite (then no task can be preferred)."""
    r = np.asarray(raw, dtype=np.float64)
    total = float(r.sum())
    if not (np.isfinite(total) and total > 0.0):
        return np.full(r.size, 1.0 / r.size)
    return r / total


# ---- LBTW ---------------------------------------------------------------------------------------
def lbtw_raw_weights(ratios: ArrayLike, alpha: float) -> np.ndarray:
    """LBTW's weights w_i = (l_i(t) / l_i(0))^alpha (alpha = 0.5 in the paper), given the ratios
    l_i(t) / l_i(0): a task whose loss has fallen far below its start weighs less. Unnormalised,
    as in the paper."""
    return np.asarray(ratios, dtype=np.float64) ** alpha


# ---- GradNorm -----------------------------------------------------------------------------------
def gradnorm_inverse_rates(losses: ArrayLike, initial: ArrayLike) -> np.ndarray:
    """r_i = L~_i / mean_j L~_j with L~_i = l_i(t) / l_i(0), the relative inverse training rate
    (Sec. 3.2): above 1 for a task that trains more slowly than the average. All 1 when every
    loss is 0 (no task is behind; the paper's formula would divide 0 by 0)."""
    ratios = np.asarray(losses, dtype=np.float64) / np.asarray(initial, dtype=np.float64)
    mean = ratios.mean()
    return ratios / mean if mean > 0 else np.ones(ratios.size)


def gradnorm_targets(weighted_norms: ArrayLike, inverse_rates: ArrayLike, alpha: float) -> np.ndarray:
    """The target norms mean(G) * r_i^alpha (Sec. 3.2, eq. 1; alpha = 1.5 by default),
    G_i = || grad_W (w_i l_i) || = w_i || grad_W l_i ||. Held constant when differentiating."""
    g = np.asarray(weighted_norms, dtype=np.float64)
    return g.mean() * np.asarray(inverse_rates, dtype=np.float64) ** alpha


def gradnorm_loss(weighted_norms: ArrayLike, targets: ArrayLike) -> float:
    """L_grad = sum_i | G_i - target_i | (Sec. 3.2, eq. 2)."""
    return float(np.abs(np.asarray(weighted_norms) - np.asarray(targets)).sum())


def gradnorm_weight_grad(weights: ArrayLike, grad_norms: ArrayLike, targets: ArrayLike) -> np.ndarray:
    """d L_grad / d w_i with the targets held constant: G_i = w_i g_i, so the derivative of
    | w_i g_i - target_i | is sign(w_i g_i - target_i) * g_i (0 where they are equal)."""
    w = np.asarray(weights, dtype=np.float64)
    g = np.asarray(grad_norms, dtype=np.float64)
    return np.sign(w * g - np.asarray(targets, dtype=np.float64)) * g


def gradnorm_renormalise(weights: ArrayLike, total: float) -> np.ndarray:
    """Weights clipped at 0 and rescaled to sum to ``total`` (the paper renormalises to sum to K
    after every update; the clip keeps a weight that an update pushed below 0 from inverting its
    task's gradient). Unchanged shape; if every clipped weight is 0, all become total / n."""
    w = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
    s = float(w.sum())
    if s <= 0.0:
        return np.full(w.size, total / w.size)
    return w * (total / s)


# ---- FAMO ---------------------------------------------------------------------------------------
def famo_gaps(losses: ArrayLike, min_losses: ArrayLike) -> np.ndarray:
    """D_i = l_i - m_i + 1e-8, the loss above its known minimum (reference code)."""
    return np.asarray(losses, dtype=np.float64) - np.asarray(min_losses, dtype=np.float64) + FAMO_EPS


def famo_effective_weights(logits: ArrayLike, gaps: ArrayLike) -> np.ndarray:
    """The model step minimises sum_i z_i log D_i / c with z = softmax(logits) and
    c = sum_i z_i / D_i held constant; its gradient is sum_i (z_i / (c D_i)) grad l_i, i.e. the
    weights (z_i / D_i) / sum_j (z_j / D_j), which sum to 1. They grow like 1 / D_i: a task whose
    loss approaches its minimum takes most of the weight."""
    q = softmax(logits) / np.asarray(gaps, dtype=np.float64)
    return q / q.sum()


def famo_delta(gaps_before: ArrayLike, gaps_after: ArrayLike) -> np.ndarray:
    """delta_i = log D_i(before the step) - log D_i(after), on the same batch: the log-loss
    decrease the step achieved for each task."""
    return np.log(np.asarray(gaps_before, dtype=np.float64)) - np.log(np.asarray(gaps_after, dtype=np.float64))


def famo_logit_grad(logits: ArrayLike, delta: ArrayLike) -> np.ndarray:
    """The gradient the reference code feeds to the logits' optimizer: the softmax Jacobian
    (transposed) times delta, d_j = z_j (delta_j - sum_i z_i delta_i). A descent step lowers the
    logits of the tasks that improved most and raises the others'."""
    z = softmax(logits)
    d = np.asarray(delta, dtype=np.float64)
    return z * (d - float((z * d).sum()))


# ---- DWA ----------------------------------------------------------------------------------------
def dwa_raw_weights(ratios: ArrayLike, temperature: float) -> np.ndarray:
    """w_i = K exp(r_i / T) / sum_j exp(r_j / T) (eq. 5), r_i = L_i(e-1) / L_i(e-2) on period
    averages of the training loss, T = 2: a task whose loss fell least gains weight. Sums to K."""
    r = np.asarray(ratios, dtype=np.float64)
    return r.size * softmax(r / temperature)


# ---- uncertainty weighting ------------------------------------------------------------------------
def uncertainty_raw_weights(log_variances: ArrayLike) -> np.ndarray:
    """The loss sum_i l_i / (2 exp(s_i)) + s_i / 2 weighs task i by 1 / (2 exp(s_i))."""
    with np.errstate(over="ignore"):
        return 0.5 * np.exp(-np.asarray(log_variances, dtype=np.float64))


def uncertainty_weights(log_variances: ArrayLike) -> np.ndarray:
    """The normalised weights 1/(2 exp(s_i)) / sum_j 1/(2 exp(s_j)) = softmax(-s), computed
    stably (no overflow for very negative s)."""
    return softmax(-np.asarray(log_variances, dtype=np.float64))


def uncertainty_grad(losses: ArrayLike, log_variances: ArrayLike) -> np.ndarray:
    """d/ds_i of l_i / (2 exp(s_i)) + s_i / 2 = (1 - l_i exp(-s_i)) / 2; zero at s_i = log l_i."""
    s = np.asarray(log_variances, dtype=np.float64)
    loss = np.asarray(losses, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.where(loss == 0.0, 0.0, loss * np.exp(-s))  # 0 * inf would be NaN
    return 0.5 * (1.0 - scaled)


# ---- random loss weighting ------------------------------------------------------------------------
def rlw_weights(z: ArrayLike) -> np.ndarray:
    """RLW with the normal distribution: w = softmax(z), z ~ N(0, I) drawn every step."""
    return softmax(z)
