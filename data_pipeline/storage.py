"""`TokenizedSplit`: the tokenized samples of one split (train or valid) in flat arrays.

All samples' tokens live in one int32 array and their loss masks in one uint8 array; sample i
is ``tokens[offsets[i] : offsets[i] + lengths[i]]``. Flat arrays are what the on-disk cache
stores as .npy files and memory-maps back, so a split of any size costs no load time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

ARRAY_NAMES = ("tokens", "loss_mask", "offsets", "lengths", "task_ids")
_DTYPES = {"tokens": np.int32, "loss_mask": np.uint8, "offsets": np.int64, "lengths": np.int32, "task_ids": np.int32}


class TokenizedSplit:
    """Samples as flat arrays; ``split[i] -> (input_ids int32, loss_mask uint8, task_id int)``."""

    def __init__(
        self,
        tokens: np.ndarray,
        loss_mask: np.ndarray,
        offsets: np.ndarray,
        lengths: np.ndarray,
        task_ids: np.ndarray,
        num_tasks: int,
    ):
        if not (len(tokens) == len(loss_mask) and len(offsets) == len(lengths) == len(task_ids)):
            raise ValueError("TokenizedSplit: tokens/loss_mask and offsets/lengths/task_ids must have equal lengths")
        self.tokens = tokens
        self.loss_mask = loss_mask
        self.offsets = offsets
        self.lengths = lengths
        self.task_ids = task_ids
        self.num_tasks = num_tasks

    @classmethod
    def from_samples(
        cls, samples: Sequence[tuple[Sequence[int], Sequence[int]]], task_ids: Sequence[int], num_tasks: int
    ) -> "TokenizedSplit":
        """Build from (input_ids, loss_mask) pairs and one task id per sample."""
        lengths = np.array([len(ids) for ids, _ in samples], dtype=np.int32)
        offsets = np.zeros(len(samples), dtype=np.int64)
        if len(samples) > 1:
            np.cumsum(lengths[:-1], out=offsets[1:])
        tokens = np.concatenate([np.asarray(ids, dtype=np.int32) for ids, _ in samples] or [np.zeros(0, np.int32)])
        mask = np.concatenate([np.asarray(m, dtype=np.uint8) for _, m in samples] or [np.zeros(0, np.uint8)])
        return cls(tokens, mask, offsets, lengths, np.asarray(task_ids, dtype=np.int32).reshape(-1), num_tasks)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        start = int(self.offsets[i])
        end = start + int(self.lengths[i])
        return self.tokens[start:end], self.loss_mask[start:end], int(self.task_ids[i])

    def indices_of_task(self, task_id: int) -> np.ndarray:
        """Indices (int64, ascending) of the samples of task `task_id`."""
        return np.flatnonzero(self.task_ids == task_id)

    def num_tokens(self) -> int:
        return int(self.lengths.sum())

    def save(self, directory: Path, prefix: str) -> None:
        """Write ``<prefix>_<array>.npy`` files into `directory`."""
        for name in ARRAY_NAMES:
            np.save(directory / f"{prefix}_{name}.npy", np.asarray(getattr(self, name), dtype=_DTYPES[name]))

    @classmethod
    def load(cls, directory: Path, prefix: str, num_tasks: int) -> "TokenizedSplit":
        """Memory-map the arrays written by `save` (read-only)."""
        arrays = {name: np.load(directory / f"{prefix}_{name}.npy", mmap_mode="r") for name in ARRAY_NAMES}
        return cls(num_tasks=num_tasks, **arrays)
