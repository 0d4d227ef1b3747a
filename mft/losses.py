"""Per-task token-averaged losses, exact over ranks and gradient accumulation.

A task's loss is the mean of its answer tokens' cross entropy over the GLOBAL batch of one
optimizer step: l_i = S_i / N_i with S_i the sum of task i's token losses and N_i its token
count over every rank and micro-batch. N_i is known before the first backward (it comes from
the labels), so micro-batch m contributes sum_i w_i * S_i(m) / N_i and the accumulated gradient
is exactly the gradient of sum_i w_i * l_i (docs/design.md, "One step: exact per-task averages"; paper eq. 1).

The labels arrive already shifted by the collator: labels[b, t] is the token predicted at t.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IGNORE = -100


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross entropy per position in fp32, shape (B, L); 0 where labels == IGNORE."""
    flat = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(),
                           ignore_index=IGNORE, reduction="none")
    return flat.view(labels.shape)


def task_loss_sums(token_loss: torch.Tensor, task_ids: torch.Tensor, num_tasks: int) -> torch.Tensor:
    """S_i: the sum of token losses of each task, shape (K,); differentiable."""
    keep = task_ids != IGNORE
    sums = torch.zeros(num_tasks, dtype=token_loss.dtype, device=token_loss.device)
    return sums.index_add(0, task_ids[keep], token_loss[keep])


def task_token_counts(task_ids: torch.Tensor, num_tasks: int) -> torch.Tensor:
    """N_i: the number of loss tokens of each task, shape (K,), float64."""
    ids = task_ids[task_ids != IGNORE]
    return torch.bincount(ids, minlength=num_tasks).to(torch.float64)


def present_weights(weights: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The weights renormalised over the tasks with tokens in this step (absent tasks get 0)."""
    w = torch.where(counts > 0, weights.to(torch.float64), torch.zeros_like(counts))
    total = w.sum()
    if total <= 0:  # only tasks whose weight is 0 are present: fall back to uniform over them
        w = (counts > 0).to(torch.float64)
        total = w.sum()
    return w / total


def weighted_loss(sums: torch.Tensor, global_counts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_i w_i * S_i / N_i over the present tasks: one micro-batch's share of sum_i w_i l_i."""
    w = present_weights(weights, global_counts)
    scale = torch.where(global_counts > 0, w / global_counts.clamp(min=1), torch.zeros_like(w))
    return (sums * scale.to(sums.dtype)).sum()


@dataclass
class TaskTotals:
    """Per-task sums and the counts they average over (float64, host): loss sums and token counts,
    or gradient-norm sums and the micro-batches each task was in. Summed over ranks by summing
    both fields."""

    sums: torch.Tensor    # (K,)
    counts: torch.Tensor  # (K,)

    @classmethod
    def zeros(cls, num_tasks: int) -> "TaskTotals":
        return cls(torch.zeros(num_tasks, dtype=torch.float64), torch.zeros(num_tasks, dtype=torch.float64))

    def means(self) -> np.ndarray:
        """sums / counts per task; NaN for a task with a zero count."""
        counts = self.counts.numpy()
        return np.where(counts > 0, self.sums.numpy() / np.maximum(counts, 1), math.nan)
