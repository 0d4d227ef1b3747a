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
from .base import Needs, Signals, WeightingMethod, from_json, register, to_json
from .common import (SOURCES, LossSource, check_period, check_real, check_steps_per_epoch, present,
                     resolve_period, start_reference)

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LBTWParams:
    source: str = dataclasses.field(default="train", metadata={"choices": SOURCES})  # "train" (LBTW) or "valid" (LBTW*)
    alpha: float = 0.5                     # the exponent alpha of (l_i / l_i(0))^alpha
    reset_period: int | str | None = None  # source "train": reset l(0) every this many controller steps
    steps_per_epoch: int | None = None     # controller steps per epoch (run context; for "epoch")

    def __post_init__(self) -> None:
        check_real("alpha", self.alpha, low=0.0)
        check_steps_per_epoch(self.steps_per_epoch)
        check_period("reset_period", self.reset_period, self.steps_per_epoch, allow_none=True)
        if self.reset_period is not None and self.source != "train":
            raise ValueError("weighting.reset_period applies to source 'train' only (LBTW*'s l(0) is "
                             "the validation loss before training)")


@register("lbtw")
class LBTW(LossSource, WeightingMethod):
    """Weights from each task's loss relative to its start (a task that has learnt more weighs less).

    A task absent from a step (NaN) or with a non-finite or negative loss keeps its last ratio
    (1 until it has one), so its weight relative to the others stays; a warning is logged for
    non-finite values. l_i(0) must be > 0: a task whose candidate l_i(0) is 0 waits for the next
    loss. ``t`` counts every controller step, absent or not (the reset period counts steps).

    ``scores()``: ``ratios`` l_i(t) / l_i(0) and ``raw_weights`` (the paper's unnormalised
    ratio^alpha); ``weights`` are raw_weights / sum.
    """

    Params = LBTWParams

    def __init__(self, num_tasks: int, **params: Any) -> None:
        super().__init__(num_tasks, **params)
        p: LBTWParams = self.params
        self.source, self.alpha = p.source, float(p.alpha)
        self.reset_period = resolve_period(p.reset_period, p.steps_per_epoch)
        k = self.num_tasks
        self._initial = np.full(k, math.nan)  # l_i(0); NaN = not known yet
        self._ratios = np.ones(k)  # each task's last l_i / l_i(0); 1 until known
        self._started = False

    @property
    def needs(self) -> Needs:  # type: ignore[override]
        return self._source_needs()

    def start(self, val_losses: Any = None) -> None:
        """Source "valid": the full validation losses before training become l_i(0) (a task
        whose loss is not finite and > 0 takes its l_i(0) from its first update instead).
        Source "train": only checks the shape."""
        if val_losses is None:
            return
        losses = self._loss_vector(val_losses, "val_losses")
        if self.source != "valid":
            return
        self._initial = start_reference("lbtw", losses, self._t)
        self._started = True

    def _update(self, signals: Signals) -> np.ndarray:
        losses, what = self._source_losses(signals)
        t = self._t
        ok = present(losses, "lbtw", what, logger, t)
        if self.source == "valid" and t == 0 and not self._started:
            logger.warning("lbtw (valid): start() was not called before the first update; the first "
                           "update's validation losses become l(0)")
        if self.reset_period is not None and t > 0 and t % self.reset_period == 0:
            self._initial[:] = math.nan  # a new period: each task's next loss becomes its l(0)
        fresh = ok & np.isnan(self._initial) & (losses > 0)
        self._initial[fresh] = losses[fresh]
        with np.errstate(all="ignore"):
            ratios = losses / self._initial
        known = ok & np.isfinite(ratios)  # l(0) known (and not so small that the ratio overflows)
        self._ratios[known] = ratios[known]
        self._weights = bm.normalise(bm.lbtw_raw_weights(self._ratios, self.alpha))
        self._t = t + 1
        return self.weights

    def scores(self) -> dict[str, list[float] | float]:
        return {"ratios": self._ratios.tolist(),
                "raw_weights": bm.lbtw_raw_weights(self._ratios, self.alpha).tolist()}

    # ---- checkpointing ------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {"source": self.source, "reset_period": self.reset_period}

    def _state(self) -> dict[str, Any]:
        """The alpha in it is informational (a resumed run may change it from the next update)."""
        return {"alpha": self.alpha, "initial_losses": to_json(self._initial), "ratios": self._ratios.tolist(),
                "weights": self._weights.tolist(), "started": self._started}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._initial = from_json(state["initial_losses"])
        self._ratios = np.asarray(state["ratios"], dtype=np.float64)
        self._weights = np.asarray(state["weights"], dtype=np.float64)
        self._started = bool(state["started"])
