"""Paired per-seed comparison of two methods: the mean difference and its 95% t interval.

    diff = paired_difference([1.10, 1.30, 1.20], [1.00, 1.25, 1.20])   # method a - method b, per seed
    diff.mean, diff.low, diff.high, diff.n

With n seeds the interval is mean +- t(0.975, n - 1) * sd / sqrt(n), sd with n - 1 in the
denominator (Student's t for a paired design). No scipy: the two-sided 95% quantiles for 1-30
degrees of freedom are tabulated; beyond 30 the Cornish-Fisher expansion of t about the normal
quantile is within 1e-4 of the exact value.
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


@dataclass(frozen=True)
class PairedDifference:
    mean: float
    low: float | None     # None with one pair: no interval
    high: float | None
    n: int


def paired_difference(a: list[float], b: list[float]) -> PairedDifference:
    """Mean of a[i] - b[i] over the pairs and its 95% t interval."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need the same number (>= 1) of values on both sides, got {len(a)} and {len(b)}")
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    mean = sum(diffs) / n
    if n == 1:
        return PairedDifference(mean, None, None, 1)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile_975(n - 1) * sd / math.sqrt(n)
    return PairedDifference(mean, mean - half, mean + half, n)
