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
from .base import Needs, Signals, WeightingMethod, register
from .common import check_real, present
from .state import ARRAY, STATEFUL

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
    state_fields = {"_log_variance": ARRAY, "_adam": STATEFUL}
    informational = ("lr",)  # a resumed run may change it

    def _setup(self) -> None:
        self._adam = Adam(self.num_tasks, lr=self.params.lr)
        self._log_variance = np.full(self.num_tasks, float(self.params.initial_log_variance))  # s
        self._weights = bm.uncertainty_weights(self._log_variance)

    def _update(self, signals: Signals) -> None:
        losses = signals.train_losses
        ok = present(losses, "uncertainty", "train_losses", logger, self.t)
        if ok.any():
            s = self._log_variance
            grad = np.zeros(self.num_tasks)
            grad[ok] = bm.uncertainty_grad(losses[ok], s[ok])
            self._log_variance = self._adam.step(s, grad, mask=ok)
            self._weights = bm.uncertainty_weights(self._log_variance)

    def scores(self) -> dict[str, list[float] | float]:
        s = self._log_variance
        return {"log_variance": s.tolist(), "raw_weights": bm.uncertainty_raw_weights(s).tolist()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._weights = bm.uncertainty_weights(self._log_variance)
