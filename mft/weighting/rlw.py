"""Random loss weighting, registered as ``random`` (Lin et al. 2021, RLW): w = softmax(z) with
z ~ N(0, I) drawn afresh at every controller step, from a NumPy generator seeded by ``seed``.

It needs no signal, so the trainer calls ``update()`` before each controller step and the draw
weighs that step. Every rank seeds the same generator and so draws the same weights; the
generator's state is in ``state_dict``, so a resumed run continues the same sequence.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import baselines_math as bm
from .base import Signals, WeightingMethod, register
from .common import is_int
from .params import PREFIX
from .state import ARRAY


@dataclasses.dataclass(frozen=True)
class RandomParams:
    seed: int = 0   # seeds the generator (PCG64); the same on every rank

    def __post_init__(self) -> None:
        if not (is_int(self.seed) and self.seed >= 0):
            raise ValueError(f"{PREFIX}.seed: must be an integer >= 0, got {self.seed!r}")


@register("random")
class RandomWeighting(WeightingMethod):
    """``scores()``: ``logits`` z of the last draw (0 before the first)."""

    Params = RandomParams
    state_fields = {"_logits": ARRAY}
    informational = ("seed",)  # the generator's state continues the sequence once a state exists

    def _setup(self) -> None:
        self.seed = int(self.params.seed)
        self._rng = np.random.default_rng(self.seed)
        self._logits = np.zeros(self.num_tasks)  # z of the last draw

    def _update(self, signals: Signals) -> None:
        self._logits = self._rng.standard_normal(self.num_tasks)
        self._weights = bm.rlw_weights(self._logits)

    def scores(self) -> dict[str, list[float] | float]:
        return {"logits": self._logits.tolist()}

    def _state(self) -> dict[str, Any]:
        """The generator state (Python ints, JSON-safe) continues the sequence exactly."""
        return {"rng": self._rng.bit_generator.state}

    def _load_state(self, state: dict[str, Any]) -> None:
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        self._rng = rng
        self._weights = bm.rlw_weights(self._logits) if self._t else np.full(self.num_tasks, 1.0 / self.num_tasks)
