"""Rows: which samples go together into one sequence of seq_length tokens.

padding mode: one sample per row, in sample order (the batch sampler shuffles rows).
pack mode: the samples are shuffled with `seed`, then packed FIRST-FIT in that order: each
sample goes into the earliest-opened row that still has room for it, else opens a new row.
First-fit fills rows much better than next-fit (which only looks at the newest row) while
keeping the result a deterministic function of (lengths, seq_length, seed). A max-segment-tree
over the rows' free space finds that row in O(log rows).

Per-task mixing (`plan_task_rows`, a data.mixing strategy other than proportional) packs each
task apart, so that every row belongs to one task and the sampler can draw tasks in any proportions.
"""

from __future__ import annotations

import numpy as np

from .choices import choice_error
from .errors import DataError
from .storage import TokenizedSplit


def plan_rows(split: TokenizedSplit, mode: str, seq_length: int, seed: int) -> list[list[int]]:
    """Sample indices of every row; every sample is in exactly one row."""
    lengths = _checked_lengths(split, seq_length)
    if mode == "padding":
        return [[i] for i in range(len(lengths))]
    if mode == "pack":
        order = np.random.default_rng(seed).permutation(len(lengths))
        return first_fit([int(i) for i in order], [int(n) for n in lengths[order]], seq_length)
    raise DataError(choice_error("data.mode", mode, ("padding", "pack")))


def plan_task_rows(split: TokenizedSplit, mode: str, seq_length: int, seed: int) -> tuple[list[list[int]], np.ndarray]:
    """Rows that each hold samples of ONE task, and each row's task (int64): what per-task mixing
    draws from. padding: `plan_rows`' rows. pack: each task's samples shuffled with [seed, task]
    and packed first-fit on their own, tasks one after another."""
    task_ids = np.asarray(split.task_ids, dtype=np.int64)
    if mode != "pack":
        rows = plan_rows(split, mode, seq_length, seed)
        return rows, task_ids[[row[0] for row in rows]] if rows else np.zeros(0, dtype=np.int64)
    lengths = _checked_lengths(split, seq_length)
    rows: list[list[int]] = []
    row_task: list[int] = []
    for task in np.unique(task_ids):
        samples = np.flatnonzero(task_ids == task)
        samples = samples[np.random.default_rng([seed, int(task)]).permutation(len(samples))]
        packed = first_fit([int(i) for i in samples], [int(n) for n in lengths[samples]], seq_length)
        rows += packed
        row_task += [int(task)] * len(packed)
    return rows, np.asarray(row_task, dtype=np.int64)


def _checked_lengths(split: TokenizedSplit, seq_length: int) -> np.ndarray:
    lengths = np.asarray(split.lengths)
    if len(lengths) and int(lengths.max()) > seq_length:
        i = int(lengths.argmax())
        raise DataError(
            f"sample {i} has {int(lengths[i])} tokens, more than seq_length={seq_length}; "
            "build the data with the same data.seq_length as training"
        )
    return lengths


def first_fit(items: list[int], sizes: list[int], capacity: int) -> list[list[int]]:
    """Pack `items` (with `sizes`, each <= capacity) first-fit, in the given order."""
    n_leaves = 1
    while n_leaves < max(1, len(items)):
        n_leaves *= 2
    # tree[1] is the root; leaf r (row r) is tree[n_leaves + r] = free space of row r.
    # Rows not opened yet have free space `capacity`, so "first row with room" is also
    # "open a new row" when no opened row fits.
    tree = [capacity] * (2 * n_leaves)
    rows: list[list[int]] = []
    for item, size in zip(items, sizes):
        node = 1
        while node < n_leaves:
            node = 2 * node if tree[2 * node] >= size else 2 * node + 1
        row = node - n_leaves
        if row == len(rows):
            rows.append([])
        rows[row].append(item)
        tree[node] -= size
        node //= 2
        while node:
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
            node //= 2
    return rows


def row_lengths(split: TokenizedSplit, rows: list[list[int]]) -> np.ndarray:
    """Tokens in each row (the sum of its samples' lengths)."""
    lengths = np.asarray(split.lengths, dtype=np.int64)
    return np.array([int(lengths[row].sum()) for row in rows], dtype=np.int64)
