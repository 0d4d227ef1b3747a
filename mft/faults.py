"""Hooks where tests change what a training step measured, and the fault injection built on them.

The trainer calls a `StepHooks` at two points of every step; the default does nothing. Tests of
the failure paths set environment variables (never set in normal runs), which `hooks_from_env`
turns into `Faults`:

MFT_FAULT_NAN_LOSS="5,6"   makes rank 0's training loss NaN at optimizer steps 5 and 6 (1-based),
                           as a diverging batch would; the trainer must skip those steps and count them.
MFT_FAULT_NAN_VALID="4"    makes the controller's validation losses NaN at step 4; the weighting
                           method must not see them.
MFT_FAULT_VALID_RISE="2:16" adds 1 + (step - 16) to task 2's full validation loss from step 16
                           on, a rise no real improvement outpaces, as an overfitting task's
                           loss rises; the per-task stop must retire it.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch


class StepHooks:
    """What the step measured, passed through unchanged."""

    def training_loss(self, step: int, loss: torch.Tensor, task_sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A micro-batch's weighted loss and per-task loss sums, before the backward pass."""
        return loss, task_sums

    def controller_losses(self, step: int, val_losses: np.ndarray) -> np.ndarray:
        """The controller batch's per-task validation losses (all-reduced), before the weighting sees them."""
        return val_losses

    def validation_losses(self, step: int, val_losses: np.ndarray) -> np.ndarray:
        """A full validation's per-task losses (all-reduced), before early stopping and the per-task stop see them."""
        return val_losses


class Faults(StepHooks):
    def __init__(self, rank: int, environ: dict | None = None):
        env = os.environ if environ is None else environ
        self.nan_loss_steps = _steps(env.get("MFT_FAULT_NAN_LOSS", "")) if rank == 0 else set()
        self.nan_valid_steps = _steps(env.get("MFT_FAULT_NAN_VALID", ""))  # every rank: validation is all-reduced
        rise = env.get("MFT_FAULT_VALID_RISE", "")
        self.rise = tuple(int(x) for x in rise.split(":")) if rise else None  # (task, from step)

    def training_loss(self, step: int, loss: torch.Tensor, task_sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if step in self.nan_loss_steps:
            return loss * math.nan, task_sums * math.nan
        return loss, task_sums

    def controller_losses(self, step: int, val_losses: np.ndarray) -> np.ndarray:
        return val_losses * math.nan if step in self.nan_valid_steps else val_losses

    def validation_losses(self, step: int, val_losses: np.ndarray) -> np.ndarray:
        if self.rise is None or step < self.rise[1]:
            return val_losses
        out = np.array(val_losses, dtype=np.float64)
        out[self.rise[0]] += 1.0 + step - self.rise[1]
        return out


def hooks_from_env(rank: int, environ: dict | None = None) -> StepHooks:
    """`Faults` when an MFT_FAULT_* variable is set, else the hooks that change nothing."""
    env = os.environ if environ is None else environ
    return Faults(rank, env) if any(key.startswith("MFT_FAULT_") for key in env) else StepHooks()


def _steps(text: str) -> set[int]:
    return {int(s) for s in text.split(",") if s.strip()}
