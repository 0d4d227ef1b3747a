"""`static`: fixed task weights given in the config (normalised to sum to 1).

Useful for hand-tuned mixtures and as the control in invariance tests: the weights never move.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .base import Signals, WeightingMethod, register
from .params import PREFIX


@dataclasses.dataclass(frozen=True)
class StaticParams:
    weights: list[float] = dataclasses.field(default_factory=list)  # one non-negative number per task; [] = uniform

    def __post_init__(self) -> None:
        values = tuple(self.weights)
        object.__setattr__(self, "weights", values)
        if any(not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 for v in values):
            raise ValueError(f"{PREFIX}.weights: must be finite non-negative numbers, got {list(values)}")
        if values and sum(values) <= 0:
            raise ValueError(f"{PREFIX}.weights: must not all be 0, got {list(values)}")


@register("static")
class StaticWeighting(WeightingMethod):
    Params = StaticParams

    def _setup(self) -> None:
        given = self.params.weights
        if given:
            if len(given) != self.num_tasks:
                raise ValueError(f"{PREFIX}.weights: needs one value per task ({self.num_tasks}), "
                                 f"got {len(given)}: {list(given)}")
            self._weights = np.asarray(given, dtype=np.float64) / sum(given)

    def _update(self, signals: Signals) -> None:
        """The weights stay as configured."""

    def _config(self) -> dict[str, Any]:
        return {"weights": self._weights.tolist()}
