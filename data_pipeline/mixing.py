"""Task mixing math: each strategy's task proportions, UniMax's allocation, and the slot assignment.

Pure functions over arrays, no state (the stateful sampler is `data_pipeline.mixture`). A
"slot" is one position of a global batch: a sample in padding mode, a packed row of one task in
pack mode. Proportions p (K,) are non-negative and sum to 1; a task with p_i = 0 is never drawn.

- proportional: p_i = n_i / sum(n)                       (n_i: the task's slots, samples or rows)
- fixed:        p_i = w_i / sum(w)                       (w_i: data.tasks[i].weight)
- temperature:  p_i = n_i^(1/T) / sum_j n_j^(1/T)        (T = 1 is proportional, T -> inf uniform)
- unimax:       a uniform share of the run's budget of B slots per task, no task repeated more
                than E epochs (cap E * n_i), what a capped task leaves spread over the others
                (Chung et al. 2023, "UniMax", arXiv 2304.09151, Algorithm 1).

`slot_tasks(seed, step, p, G)` says which task fills each of the G slots of global batch `step`:
a function of (seed, step, p) alone, so every rank and every geometry with the same G agree,
and a resumed run draws what an uninterrupted one draws. Each task gets floor or ceil of G * p_i
slots (systematic sampling); the rounding offset of step s is frac(u + s * phi), u seeded and
phi the golden ratio's fraction, a low-discrepancy sequence, so over S steps a task's count stays
within a few slots of S * G * p_i instead of drifting like independent draws (sqrt(S) noise).
The slots' order inside the batch is a seeded shuffle, so a task is spread over ranks and
micro-batches.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

STRATEGIES = ("proportional", "fixed", "temperature", "unimax")
GOLDEN_FRACTION = (math.sqrt(5.0) - 1.0) / 2.0
SLOT_STREAM = 0x6D6978  # "mix": keeps these random streams apart from the samplers' [seed, epoch] ones


def normalised(values: Sequence[float], what: str = "proportions") -> np.ndarray:
    """`values` as float64 (K,) summing to 1; ValueError unless finite, >= 0 and not all 0."""
    p = np.asarray(values, dtype=np.float64).reshape(-1)
    if p.size == 0 or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"{what} must be finite numbers >= 0, not all 0; got {p.tolist()}")
    return p / p.sum()


def proportional(sizes: Sequence[int]) -> np.ndarray:
    """p_i = n_i / sum(n): every slot equally likely, tasks seen in proportion to their size."""
    return normalised(sizes, "task sizes")


def fixed(weights: Sequence[float]) -> np.ndarray:
    """p_i = w_i / sum(w)."""
    return normalised(weights, "weights")


def temperature(sizes: Sequence[int], t: float) -> np.ndarray:
    """p_i proportional to n_i^(1/T); T > 0. Computed in log space so large sizes do not overflow."""
    if not t > 0:
        raise ValueError(f"temperature must be > 0, got {t}")
    logs = np.log(np.asarray(sizes, dtype=np.float64)) / t
    return normalised(np.exp(logs - logs.max()), "task sizes")


def unimax_allocation(sizes: Sequence[int], budget: float, max_epochs: float) -> np.ndarray:
    """Slots per task over a run of `budget` slots (UniMax, Algorithm 1): tasks in increasing size
    each take an equal share of what is left, at most `max_epochs` * n_i; a capped task's leftover
    goes to the larger tasks after it. ValueError when even every task at its cap cannot fill the
    budget (the run is longer than max_epochs passes over all the data)."""
    n = np.asarray(sizes, dtype=np.float64)
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
    if budget > max_epochs * n.sum():
        raise ValueError(f"a budget of {budget:g} slots is more than max_epochs ({max_epochs:g}) passes over all "
                         f"{n.sum():g} slots of data")
    alloc = np.zeros_like(n)
    left = float(budget)
    order = np.argsort(n, kind="stable")
    for rank, i in enumerate(order):
        alloc[i] = min(left / (len(n) - rank), max_epochs * n[i])
        left -= alloc[i]
    return alloc


def unimax(sizes: Sequence[int], budget: float, max_epochs: float) -> np.ndarray:
    """UniMax proportions: `unimax_allocation` / budget."""
    return unimax_allocation(sizes, budget, max_epochs) / budget


def slot_tasks(seed: int, step: int, proportions: Sequence[float], slots: int) -> np.ndarray:
    """The task (int64) of each of the `slots` slots of global batch `step` (0-based); see the
    module docstring. Task i fills floor(G p_i) or ceil(G p_i) slots and none when p_i = 0."""
    p = normalised(proportions)
    offset = (np.random.default_rng([seed, SLOT_STREAM]).random() + step * GOLDEN_FRACTION) % 1.0
    points = (offset + np.arange(slots)) / slots  # one point in each 1/G-wide stratum of [0, 1)
    drawn = np.flatnonzero(p > 0)  # zero-proportion tasks get no interval, not even a rounding error's
    edges = np.cumsum(p[drawn])
    edges[-1] = 1.0
    tasks = drawn[np.minimum(np.searchsorted(edges, points, side="right"), len(drawn) - 1)]
    return np.random.default_rng([seed, SLOT_STREAM, step]).permutation(tasks)


def rounds_to_zero(proportions: Sequence[float], total_slots: int) -> list[int]:
    """Tasks whose expected slots over a run of `total_slots` round to 0 (below half a slot: never drawn,
    or by a rounding accident)."""
    p = np.asarray(proportions, dtype=np.float64)
    return [int(i) for i in np.flatnonzero(p * total_slots < 0.5)]
