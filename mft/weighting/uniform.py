"""Uniform weighting: w_i = 1/K at every step, the baseline every other method is measured against."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import WeightingMethod, register


@register("uniform")
class Uniform(WeightingMethod):
    """Every task weighs 1/K; needs no signal and keeps no state beyond its configuration."""

    def update(self, *, val_losses: Any = None, train_losses: Any = None) -> np.ndarray:
        return self.weights

    def state_dict(self) -> dict[str, Any]:
        return self._state_header()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_state(state)
