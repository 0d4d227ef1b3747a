"""DWA, dynamic weight average (Liu, Johns, Davison 2019, MTAN, eq. 5):
w = K softmax(r / T), r_i = L_i(e-1) / L_i(e-2), T = 2, uniform for the first two periods.

L_i(e) is the average training loss of task i over period e (the mean of its per-step
token-averaged losses over the controller steps of the period where it was present). The paper's
period is an epoch; here ``period`` is a number of controller steps, or "epoch" (the default),
which uses ``steps_per_epoch`` (controller steps per epoch, passed by the trainer). The weights
change only when a period closes: those computed at the last step of period e - 1 hold for period e.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from . import baselines_math as bm
from .base import Needs, Signals, WeightingMethod, from_json, register, to_json
from .common import check_period, check_real, check_steps_per_epoch, present

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DWAParams:
    temperature: float = 2.0        # T: larger gives weights closer to uniform
    period: int | str = "epoch"     # controller steps per period, or "epoch"
    steps_per_epoch: int | None = None  # controller steps per epoch (run context; for "epoch")

    def __post_init__(self) -> None:
        check_real("temperature", self.temperature, low=0.0, low_open=True)
        check_steps_per_epoch(self.steps_per_epoch)
        check_period("period", self.period, self.steps_per_epoch, allow_none=False)


@register("dwa")
class DWA(WeightingMethod):
    """Weights from the rate at which each task's period-average training loss falls.

    A task absent from a step (NaN), or with a non-finite or negative loss (a warning), does not
    enter that step's average. A task with no loss in a whole period carries its previous
    period's average forward; a ratio that cannot be formed (no average yet, or a zero
    denominator) counts as 1.

    ``scores()``: ``raw_weights`` (the paper's weights, summing to K) and ``loss_ratios`` r_i
    behind them (1 while uniform).
    """

    Params = DWAParams
    needs = Needs(train_losses=True)

    def __init__(self, num_tasks: int, **params: Any) -> None:
        super().__init__(num_tasks, **params)
        p: DWAParams = self.params
        self.temperature = float(p.temperature)
        self.period = int(p.steps_per_epoch) if p.period == "epoch" else int(p.period)
        k = self.num_tasks
        self._sums, self._counts = np.zeros(k), np.zeros(k, dtype=np.int64)
        self._averages: list[np.ndarray] = []  # the last two closed periods, oldest first (NaN: none)
        self._periods = 0                      # closed periods
        self._ratios = np.ones(k)

    def _update(self, signals: Signals) -> np.ndarray:
        losses = signals.train_losses
        t = self._t
        self._t = t + 1
        ok = present(losses, "dwa", "train_losses", logger, t)
        self._sums[ok] += losses[ok]
        self._counts[ok] += 1
        if self._t % self.period == 0:
            self._close_period()
        return self.weights

    def _close_period(self) -> None:
        seen = self._counts > 0
        average = np.full(self.num_tasks, math.nan)
        average[seen] = self._sums[seen] / self._counts[seen]
        if self._averages:  # a task unseen this period carries its previous average
            average[~seen] = self._averages[-1][~seen]
        self._averages = (self._averages + [average])[-2:]
        self._periods += 1
        self._sums[:] = 0.0
        self._counts[:] = 0
        if self._periods >= 2:
            older, newer = self._averages
            with np.errstate(all="ignore"):
                ratios = newer / older
            self._ratios = np.where(np.isfinite(ratios), ratios, 1.0)
            self._weights = bm.normalise(bm.dwa_raw_weights(self._ratios, self.temperature))

    def scores(self) -> dict[str, list[float] | float]:
        raw = bm.dwa_raw_weights(self._ratios, self.temperature) if self._periods >= 2 else np.ones(self.num_tasks)
        return {"raw_weights": raw.tolist(), "loss_ratios": self._ratios.tolist()}

    # ---- checkpointing ------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {"period": self.period}

    def _state(self) -> dict[str, Any]:
        """temperature in it is informational (a resumed run may change it from the next period)."""
        return {"temperature": self.temperature, "sums": self._sums.tolist(), "counts": self._counts.tolist(),
                "averages": [to_json(a) for a in self._averages], "periods": self._periods,
                "ratios": self._ratios.tolist(), "weights": self._weights.tolist()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._sums = np.asarray(state["sums"], dtype=np.float64)
        self._counts = np.asarray(state["counts"], dtype=np.int64)
        self._averages = [from_json(a) for a in state["averages"]]
        self._periods = int(state["periods"])
        self._ratios = np.asarray(state["ratios"], dtype=np.float64)
        self._weights = np.asarray(state["weights"], dtype=np.float64)
