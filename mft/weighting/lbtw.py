"""LBTW, loss-balanced task weighting (Liu, Liang, Gitter 2019): w_i proportional to
(l_i(t) / l_i(0))^alpha, alpha = 0.5 (``baselines_math.lbtw_raw_weights``).

- ``source="train"`` (LBTW): this step's training losses; l_i(0) is the task's first training loss
  (measured in the forward pass of the first step where it appears, so before any update on it).
  The weights computed from step t's losses apply from step t + 1: the reference code weighs the
  same batch, which a trainer that fixes the weights before the forward pass cannot do.
  ``reset_period`` (controller steps, or "epoch"; default None = never) reproduces the reference
  code, which resets l_i(0) at the first batch of every epoch: at every t that is a multiple of
  the period, each task's l_i(0) becomes its next training loss.
- ``source="valid"`` (LBTW*): the controller validation losses, measured before the step and used
  for this step; l_i(0) from ``start()`` (the full validation pass before training), or the first
  update's losses if ``start`` was not called.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from . import baselines_math as bm
from .base import Needs, Signals, WeightingMethod, register
from .common import SOURCES, LossSource, StartReference, check_period, check_real, present, resolve_period
from .params import PREFIX
from .state import ARRAY, BOOL, NAN_ARRAY

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LBTWParams:
    source: str = dataclasses.field(default="train", metadata={"choices": SOURCES})  # "train" (LBTW) or "valid" (LBTW*)
    alpha: float = 0.5                     # the exponent alpha of (l_i / l_i(0))^alpha
    reset_period: int | str | None = dataclasses.field(default=None, metadata={"run_context": '`"epoch"` = steps_per_epoch'})  # source "train": reset l(0) every this many controller steps

    def __post_init__(self) -> None:
        check_real("alpha", self.alpha, low=0.0)
        check_period("reset_period", self.reset_period, allow_none=True)
        if self.reset_period is not None and self.source != "train":
            raise ValueError(f"{PREFIX}.reset_period: applies to source 'train' only (LBTW*'s l(0) is "
                             f"the validation loss before training), got {self.reset_period!r}")


@register("lbtw")
class LBTW(StartReference, LossSource, WeightingMethod):
    """Weights from each task's loss relative to its start (a task that has learnt more weighs less).

    A task absent from a step (NaN) or with a non-finite or negative loss keeps its last ratio
    (1 until it has one), so its weight relative to the others stays; a warning is logged for
    non-finite values. l_i(0) must be > 0: a task whose candidate l_i(0) is 0 waits for the next
    loss. ``t`` counts every controller step, absent or not (the reset period counts steps).

    ``scores()``: ``ratios`` l_i(t) / l_i(0) and ``raw_weights`` (the paper's unnormalised
    ratio^alpha); ``weights`` are raw_weights / sum.
    """

    Params = LBTWParams
    state_fields = {"_initial_losses": NAN_ARRAY, "_ratios": ARRAY, "_weights": ARRAY, "_started": BOOL}
    informational = ("alpha",)  # a resumed run may change it from the next update

    def _setup(self) -> None:
        self.source, self.alpha = self.params.source, float(self.params.alpha)
        self.reset_period = resolve_period("reset_period", self.params.reset_period, self.context)
        k = self.num_tasks
        self._initial_losses = np.full(k, math.nan)  # l_i(0); NaN = not known yet
        self._ratios = np.ones(k)  # each task's last l_i / l_i(0); 1 until known

    @property
    def needs(self) -> Needs:  # type: ignore[override]
        return self._source_needs()

    def _update(self, signals: Signals) -> None:
        losses, what = self._source_losses(signals)
        t = self.t
        ok = present(losses, "lbtw", what, logger, t)
        if self.reset_period is not None and t > 0 and t % self.reset_period == 0:
            self._initial_losses[:] = math.nan  # a new period: each task's next loss becomes its l(0)
        self._take_reference(losses, ok)
        with np.errstate(all="ignore"):
            ratios = losses / self._initial_losses
        known = ok & np.isfinite(ratios)  # l(0) known (and not so small that the ratio overflows)
        self._ratios[known] = ratios[known]
        self._weights = bm.normalise(bm.lbtw_raw_weights(self._ratios, self.alpha))

    def scores(self) -> dict[str, list[float] | float]:
        return {"ratios": self._ratios.tolist(),
                "raw_weights": bm.lbtw_raw_weights(self._ratios, self.alpha).tolist()}

    def _config(self) -> dict[str, Any]:
        return {"source": self.source, "reset_period": self.reset_period}
