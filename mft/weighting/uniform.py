"""Uniform weighting: w_i = 1/K at every step, the baseline every other method is measured against."""
from __future__ import annotations

from .base import Signals, WeightingMethod, register


@register("uniform")
class Uniform(WeightingMethod):
    """Every task weighs 1/K; needs no signal and keeps no state beyond its configuration."""

    def _update(self, signals: Signals) -> None:
        """Nothing to learn: the weights stay 1/K."""
