"""The learning-rate schedule: linear warm-up, then cosine decay to min_lr."""
from __future__ import annotations

import math


def lr_at(step: int, *, lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based) of `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def lr_factor_fn(*, lr: float, min_lr: float, warmup_steps: int, total_steps: int):
    """A `torch.optim.lr_scheduler.LambdaLR` factor function for the schedule above."""
    def factor(step: int) -> float:
        return lr_at(step, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps, total_steps=total_steps) / lr
    return factor
