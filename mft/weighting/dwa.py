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
from .base import Needs, Signals, WeightingMethod, register
from .common import check_period, check_real, present, resolve_period
from .state import ARRAY, INT, INT_ARRAY, NAN_ARRAYS

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DWAParams:
    temperature: float = 2.0        # T: larger gives weights closer to uniform
    period: int | str = dataclasses.field(default="epoch", metadata={"run_context": '`"epoch"` = steps_per_epoch'})  # controller steps per period

    def __post_init__(self) -> None:
        check_real("temperature", self.temperature, low=0.0, low_open=True)
        check_period("period", self.period, allow_none=False)


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
    state_fields = {"_sums": ARRAY, "_counts": INT_ARRAY, "_averages": NAN_ARRAYS, "_periods": INT,
                    "_ratios": ARRAY, "_weights": ARRAY}
    informational = ("temperature",)  # a resumed run may change it from the next period

    def _setup(self) -> None:
        self.temperature = float(self.params.temperature)
        self.period = resolve_period("period", self.params.period, self.context)
        k = self.num_tasks
        self._sums, self._counts = np.zeros(k), np.zeros(k, dtype=np.int64)
        self._averages: list[np.ndarray] = []  # the last two closed periods, oldest first (NaN: none)
        self._periods = 0                      # closed periods
        self._ratios = np.ones(k)

    def _update(self, signals: Signals) -> None:
        losses = signals.train_losses
        ok = present(losses, "dwa", "train_losses", logger, self.t)
        self._sums[ok] += losses[ok]
        self._counts[ok] += 1
        if (self.t + 1) % self.period == 0:  # the period's last controller step
            self._close_period()

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

    def _config(self) -> dict[str, Any]:
        return {"period": self.period}
