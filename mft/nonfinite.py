"""What to do when a step's training loss is not finite: skip it, count it, stop when it persists."""
from __future__ import annotations

from dataclasses import dataclass


class NonFiniteLossError(RuntimeError):
    """Training produced non-finite losses that could not be skipped safely."""


@dataclass
class NonFiniteGuard:
    max_in_a_row: int
    in_a_row: int = 0
    total: int = 0

    def check(self, *, step: int, finite: bool, update_skipped: bool, zero_stage: int) -> bool:
        """Record one step; True when it was non-finite (and its update skipped by the engine).

        Raises NonFiniteLossError when the engine applied a non-finite update anyway, or after
        `max_in_a_row` non-finite steps in a row.
        """
        if finite:
            self.in_a_row = 0
            return False
        self.in_a_row += 1
        self.total += 1
        if not update_skipped:
            raise NonFiniteLossError(
                f"step {step}: the training loss is not finite and DeepSpeed (ZeRO stage {zero_stage}) applied the "
                "update anyway; use ZeRO-1 or 2 with training.grad_clip > 0 (bf16: set "
                "deepspeed.bf16.check_grad_overflow), or lower training.lr")
        if self.in_a_row >= self.max_in_a_row:
            raise NonFiniteLossError(
                f"step {step}: {self.in_a_row} steps in a row had a non-finite training loss "
                f"(training.max_nonfinite_steps = {self.max_in_a_row}); the run has diverged: lower training.lr "
                "or check the data; resume from the last checkpoint")
        return True

    def state_dict(self) -> dict:
        return {"in_a_row": self.in_a_row, "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.in_a_row, self.total = state["in_a_row"], state["total"]
