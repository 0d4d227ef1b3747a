"""Early stopping on the mean validation-loss ratio over tasks (the CoBa paper's criterion)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence


def mean_loss_ratio(losses: Sequence[float], reference: Sequence[float]) -> float:
    """mean_i l_i / l_i(0): each task's validation loss relative to its value before training."""
    return sum(l / r for l, r in zip(losses, reference)) / len(losses)


@dataclass
class EarlyStopping:
    """Tracks the best score (lower is better) and stops after `patience` evaluations without
    an improvement larger than `min_delta`; patience 0 never stops."""
    patience: int = 0
    min_delta: float = 0.0
    best: float = math.inf
    best_step: int = -1
    bad_evaluations: int = 0

    def observe(self, step: int, score: float) -> bool:
        """Record one evaluation; True when it is the new best."""
        if math.isfinite(score) and score < self.best - self.min_delta:
            self.best, self.best_step, self.bad_evaluations = score, step, 0
            return True
        self.bad_evaluations += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_evaluations >= self.patience

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
