"""Paired per-seed comparison of two methods: the mean difference, its 95% t interval, its p-value;
Holm's adjustment of a family of p-values.

    diff = paired_difference([1.10, 1.30, 1.20], [1.00, 1.25, 1.20])   # method a - method b, per seed
    diff.mean, diff.low, diff.high, diff.n, diff.p
    holm([0.01, 0.04, 0.03, 0.005])   # [0.03, 0.06, 0.06, 0.02]

With n seeds the interval is mean +- t(0.975, n - 1) * sd / sqrt(n), sd with n - 1 in the
denominator (Student's t for a paired design), and p the two-sided p-value of t = mean / (sd / sqrt n).
No scipy: the two-sided 95% quantiles for 1-30 degrees of freedom are tabulated; beyond 30 the
Cornish-Fisher expansion of t about the normal quantile is within 1e-4 of the exact value. The
p-value uses the closed form of Student's t distribution for integer degrees of freedom
(Abramowitz & Stegun 26.7.3-26.7.4), exact up to rounding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# t(0.975, df) for df = 1..30
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
         2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
         2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
_Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with integer `df` >= 1 degrees of freedom.

    A&S 26.7.3-4: with theta = atan(|t| / sqrt(df)), P(|T| < |t|) is
    sin(theta) (1 + c/2 + 1*3/(2*4) c^2 + ... + 1*3*..*(df-3)/(2*4*..*(df-2)) c^(df/2 - 1)) for even df,
    (2/pi) (theta + sin(theta) cos(theta) (1 + 2/3 c + ... + 2*4*..*(df-3)/(3*5*..*(df-2)) c^((df-3)/2)))
    for odd df (the inner sum empty for df = 1), where c = cos(theta)^2."""
    if df < 1 or int(df) != df:
        raise ValueError(f"degrees of freedom must be an integer >= 1, got {df}")
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    c = math.cos(theta) ** 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(1, df // 2):  # term_k = term_{k-1} * (2k - 1) / (2k) * c
            term *= (2 * k - 1) / (2 * k) * c
            total += term
        inside = math.sin(theta) * total
    else:
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):  # term_k = term_{k-1} * (2k) / (2k + 1) * c
            term *= (2 * k) / (2 * k + 1) * c
            total += term
        inside = 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    return min(1.0, max(0.0, 1.0 - inside))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment, in the given order: the i-th smallest p (1-based) becomes
    max over j <= i of min(1, (m - j + 1) p_(j)). Rejecting where the adjusted p < alpha keeps the
    chance of any false rejection in the family at or below alpha (Holm 1979)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class PairedDifference:
    mean: float
    low: float | None     # None with one pair: no interval
    high: float | None
    n: int
    p: float | None = None  # two-sided paired t p-value; None with one pair


def paired_difference(a: list[float], b: list[float]) -> PairedDifference:
    """Mean of a[i] - b[i] over the pairs, its 95% t interval and two-sided p-value (1.0 when every
    difference is 0; 0.0 when they are all equal and not 0)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need the same number (>= 1) of values on both sides, got {len(a)} and {len(b)}")
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    mean = sum(diffs) / n
    if n == 1:
        return PairedDifference(mean, None, None, 1)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    se = sd / math.sqrt(n)
    half = t_quantile_975(n - 1) * se
    p = (1.0 if mean == 0 else 0.0) if se == 0 else t_two_sided_p(mean / se, n - 1)
    return PairedDifference(mean, mean - half, mean + half, n, p)
