"""Pack mode on the length distribution of benchmarks/packing.py (log-normal, median 200 tokens,
tail to 2048): first-fit fills at least 95% of the rows' positions, with every sample in exactly
one row, for any seed."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline import TokenizedSplit, plan_rows


def lognormal_split(n: int, seed: int, seq_length: int = 2048) -> TokenizedSplit:
    rng = np.random.default_rng(seed)
    draws = np.rint(np.exp(rng.normal(np.log(200), 1.0, 3 * n))).astype(np.int64)
    lengths = draws[(draws >= 16) & (draws <= seq_length)][:n].astype(np.int32)
    offsets = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    total = int(lengths.sum())
    return TokenizedSplit(np.zeros(total, np.int32), np.ones(total, np.uint8), offsets, lengths,
                          np.zeros(n, np.int32), num_tasks=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pack_fills_95_percent_of_a_lognormal_split(seed):
    split = lognormal_split(5000, seed=10 + seed)
    rows = plan_rows(split, "pack", 2048, seed)
    assert sorted(i for row in rows for i in row) == list(range(len(split)))
    assert all(int(split.lengths[row].sum()) <= 2048 for row in rows)
    fill = split.num_tokens() / (len(rows) * 2048)
    assert fill >= 0.95, f"pack mode fills {fill:.3f} of the positions"
    assert rows == plan_rows(split, "pack", 2048, seed)  # a deterministic function of the seed
