"""Fault injection for tests of the failure paths (never set in normal runs).

MFT_FAULT_NAN_LOSS="5,6"   makes rank 0's training loss NaN at optimizer steps 5 and 6 (1-based),
                           as a diverging batch would; the trainer must skip those steps and count them.
MFT_FAULT_NAN_VALID="4"    makes the controller's validation losses NaN at step 4; the weighting
                           method must not see them.
"""
from __future__ import annotations

import os


class Faults:
    def __init__(self, rank: int, environ: dict | None = None):
        env = os.environ if environ is None else environ
        self.nan_loss_steps = _steps(env.get("MFT_FAULT_NAN_LOSS", "")) if rank == 0 else set()
        self.nan_valid_steps = _steps(env.get("MFT_FAULT_NAN_VALID", ""))  # every rank: validation is all-reduced

    def nan_loss(self, step: int) -> bool:
        return step in self.nan_loss_steps

    def nan_valid(self, step: int) -> bool:
        return step in self.nan_valid_steps


def _steps(text: str) -> set[int]:
    return {int(s) for s in text.split(",") if s.strip()}
