"""Rows of samples -> batch tensors, and the block-causal attention mask.

Every tensor is (B, L), dtype long. L is the batch's longest row rounded up to a multiple of 8
(at most seq_length): dynamic padding, so a batch of short samples costs short rows. With
``dynamic=False`` L is always seq_length (one shape for every batch). Padding never changes a
token-averaged loss: padded positions carry no label. Labels are already shifted and never
cross a sample boundary: ``labels[b, t]`` is the next token of the same sample where that token
is learned, else -100.
"""

from __future__ import annotations

import numpy as np
import torch

from .storage import TokenizedSplit

IGNORE = -100


class Collator:
    """Builds batches from rows of sample indices (``None`` = a padding row with no loss).

    Output keys, all (B, L) long tensors (L: see the module docstring):
      input_ids       tokens, pad_id after the last sample
      labels          token to predict at each position (same sample, learned), else -100
      task_ids        the sample's task id where labels != -100, else -100
      position_ids    0, 1, 2, ... restarting at every sample; 0 on padding
      segment_ids     1, 2, 3, ... per sample of the row; 0 on padding
      attention_mask  1 on tokens, 0 on padding (in pack mode use block_causal_mask instead)
    """

    def __init__(self, split: TokenizedSplit, seq_length: int, pad_id: int, *, dynamic: bool = True,
                 multiple: int = 8):
        if multiple < 1:
            raise ValueError(f"multiple must be >= 1, got {multiple}")
        self.split = split
        self.seq_length = seq_length
        self.pad_id = pad_id
        self.dynamic = dynamic
        self.multiple = multiple

    def length(self, rows: list[list[int] | None]) -> int:
        """L of the batch of `rows`: seq_length, or (dynamic) the longest row rounded up to `multiple`."""
        if not self.dynamic:
            return self.seq_length
        longest = max((sum(int(self.split.lengths[i]) for i in row) for row in rows if row), default=1)
        return min(self.seq_length, -(-longest // self.multiple) * self.multiple)

    def __call__(self, rows: list[list[int] | None]) -> dict[str, torch.Tensor]:
        shape = (len(rows), self.length(rows))
        input_ids = np.full(shape, self.pad_id, dtype=np.int64)
        labels = np.full(shape, IGNORE, dtype=np.int64)
        task_ids = np.full(shape, IGNORE, dtype=np.int64)
        position_ids = np.zeros(shape, dtype=np.int64)
        segment_ids = np.zeros(shape, dtype=np.int64)
        for b, row in enumerate(rows):
            start = 0
            for segment, index in enumerate(row or [], start=1):
                ids, mask, task = self.split[index]
                end = start + len(ids)
                if end > shape[1]:
                    raise ValueError(
                        f"row {row} holds {end}+ tokens, more than seq_length={self.seq_length}; "
                        "plan rows with plan_rows(..., seq_length) of the same length"
                    )
                input_ids[b, start:end] = ids
                learned = np.flatnonzero(mask[1:]) + start  # positions whose NEXT token is learned
                labels[b, learned] = input_ids[b, learned + 1]
                task_ids[b, learned] = task
                position_ids[b, start:end] = np.arange(len(ids))
                segment_ids[b, start:end] = segment
                start = end
        return {
            "input_ids": torch.from_numpy(input_ids),
            "labels": torch.from_numpy(labels),
            "task_ids": torch.from_numpy(task_ids),
            "position_ids": torch.from_numpy(position_ids),
            "segment_ids": torch.from_numpy(segment_ids),
            "attention_mask": torch.from_numpy((segment_ids > 0).astype(np.int64)),
        }


def block_causal_mask(segment_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask (B, 1, L, L) for packed rows: 0.0 = may attend, finfo.min = may not.

    Query t may attend key s when s <= t and both are in the same sample (same non-zero
    segment id). A padding query (segment 0) attends only to itself, so no row of the mask is
    fully masked (which would give NaN after softmax); its output is never used.
    Use this float mask, not a bool one: a bool 4D mask is silently wrong under the eager
    attention implementation (docs/design.md, "From JSONL to batches", step 6), while this one
    matches separate runs under sdpa and eager.
    """
    length = segment_ids.shape[-1]
    query = segment_ids[:, :, None]
    key = segment_ids[:, None, :]
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    allowed = (query == key) & (query != 0) & causal
    allowed |= torch.eye(length, dtype=torch.bool, device=segment_ids.device) & (query == 0)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None, :, :]
