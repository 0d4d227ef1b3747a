"""Uncertainty weighting (Kendall, Gal, Cipolla 2018): the loss
sum_i l_i / (2 exp(s_i)) + s_i / 2 with learned log variances s_i (initial -0.5, as LibMTL);
the reported weights are the normalised 1 / (2 exp(s_i)), i.e. softmax(-s).

s has its own Adam (no weight decay). The paper trains s with the network's optimizer and gives
no separate rate; ``lr`` = 0.025 (the rate FAMO uses for its logits) is this implementation's
choice: s_i moves about lr per step at most, so it reaches its optimum log l_i (the gradient
(1 - l_i exp(-s_i)) / 2 vanishes there) within some tens of steps from -0.5 for fine-tuning
losses of order 1, while a model-optimizer rate (1e-5) would leave it at -0.5.

The update reads this step's training losses (measured before the optimizer step) after the step;
the new weights apply from the next step. At the optimum the weight is proportional to 1 / l_i, so
a task whose training loss tends to 0 takes most of the weight.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from . import baselines_math as bm
from .adam import Adam
from .common import check_real, present
from .base import Needs, Signals, WeightingMethod, register

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class UncertaintyParams:
    lr: float = 0.025                    # Adam learning rate of s (this implementation's choice)
    initial_log_variance: float = -0.5   # s_i at the start

    def __post_init__(self) -> None:
        check_real("lr", self.lr, low=0.0, low_open=True)
        check_real("initial_log_variance", self.initial_log_variance)


@register("uncertainty")
class Uncertainty(WeightingMethod):
    """Homoscedastic-uncertainty weighting with learned log variances s_i.

    Only tasks present with a finite loss >= 0 update their s_i (and Adam moments); absent tasks
    (NaN) and invalid values (a warning) keep theirs.

    ``scores()``: ``log_variance`` s_i and ``raw_weights`` 1 / (2 exp(s_i)) (unnormalised).
    """

    Params = UncertaintyParams
    needs = Needs(train_losses=True)

    def __init__(self, num_tasks: int, **params: Any) -> None:
        super().__init__(num_tasks, **params)
        p: UncertaintyParams = self.params
        self._adam = Adam(self.num_tasks, lr=p.lr)
        self._s = np.full(self.num_tasks, float(p.initial_log_variance))
        self._weights = bm.uncertainty_weights(self._s)

    def _update(self, signals: Signals) -> np.ndarray:
        losses = signals.train_losses
        t = self._t
        self._t = t + 1
        ok = present(losses, "uncertainty", "train_losses", logger, t)
        if ok.any():
            grad = np.zeros(self.num_tasks)
            grad[ok] = bm.uncertainty_grad(losses[ok], self._s[ok])
            self._s = self._adam.step(self._s, grad, mask=ok)
            self._weights = bm.uncertainty_weights(self._s)
        return self.weights

    def scores(self) -> dict[str, list[float] | float]:
        return {"log_variance": self._s.tolist(), "raw_weights": bm.uncertainty_raw_weights(self._s).tolist()}

    # ---- checkpointing ------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """lr in it is informational (a resumed run may change it)."""
        return {"lr": self._adam.lr, "log_variance": self._s.tolist(), "adam": self._adam.state_dict()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._s = np.asarray(state["log_variance"], dtype=np.float64)
        self._adam.load_state_dict(state["adam"])
        self._weights = bm.uncertainty_weights(self._s)
