"""FAMO, fast adaptive multitask optimization (Liu et al. 2023; reference code Cranial-XIX/FAMO).

Logits xi (0 at the start), z = softmax(xi). The model step minimises sum_i z_i log D_i / c with
D_i = l_i - m_i + 1e-8 and c = sum_i z_i / D_i held constant, i.e. the task weights
(z_i / D_i) / sum_j (z_j / D_j). After the step the same batch is re-measured,
delta_i = log D_i(before) - log D_i(after), the logit gradient is the softmax Jacobian times
delta, and the method's own Adam (lr 0.025, weight decay 0.01 added to the gradient as torch's
Adam does: the paper's settings) updates xi. ``min_losses`` m_i defaults to 0.

- ``source="train"`` (FAMO): before = this step's training losses, after = the same training
  batch re-measured after the step (``after_step = "train"``).
- ``source="valid"`` (FAMO*): before = the controller validation losses (before the step),
  after = the same validation batch re-measured after the step (``after_step = "valid"``).

What the model's step minimises (``gaps``; docs/weighting.md, "FAMO", says why the defaults):
- ``"train"``: FAMO's objective on training losses. The weights are fixed before the forward
  pass, so D_i cannot come from the batch being weighed (the reference code uses it); the latest
  training losses stand in: with the train source the previous controller step's batch
  re-measured after it (the parameters the next step starts from), with the valid source that
  step's own training losses. The default of FAMO.
- ``"none"``: no 1/D re-normalisation, the weights are z: the plain training loss weighted by
  z, the logits learning from the source (the CoBa paper's FAMO*, Sec. 4.2's footnote). The
  default of FAMO*.
- ``"source"``: D from the source's "after" losses; for FAMO* every loss it reads is then a
  validation loss.
Until every task has a D, the weights are z.

Weights grow like 1 / D_i: with training-loss gaps a task the model memorises (training loss
tending to 0) takes most of the weight unless its logit falls; validation-loss gaps do not tend
to 0 but favour the task with the lowest validation loss, the easiest one.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from numbers import Real
from typing import Any

import numpy as np

from . import baselines_math as bm
from .adam import Adam
from .base import Needs, Signals, WeightingMethod, register
from .common import SOURCES, LossSource, check_real, present
from .functional import softmax
from .params import PREFIX
from .state import ARRAY, NAN_ARRAY, STATEFUL

logger = logging.getLogger(__name__)
GAP_SOURCES = ("auto", "train", "none", "source")


@dataclasses.dataclass(frozen=True)
class FAMOParams:
    source: str = dataclasses.field(default="train", metadata={"choices": SOURCES})  # "train" (FAMO) or "valid" (FAMO*)
    lr: float = 0.025           # the logits' Adam learning rate (paper)
    weight_decay: float = 0.01  # L2 on the logits, added to their gradient (paper's gamma)
    min_losses: float | list[float] = 0.0  # m_i: one number for every task, or one per task
    gaps: str = dataclasses.field(default="auto", metadata={"choices": GAP_SOURCES})  # D_i in the weights: "auto" = "train" for FAMO, "none" (weights z) for FAMO*

    def __post_init__(self) -> None:
        check_real("lr", self.lr, low=0.0, low_open=True)
        check_real("weight_decay", self.weight_decay, low=0.0)
        if isinstance(self.min_losses, Real) and not isinstance(self.min_losses, bool):
            check_real("min_losses", self.min_losses)
        else:
            values = tuple(self.min_losses) if isinstance(self.min_losses, (list, tuple)) else None
            if values is None or not values:
                raise ValueError(f"{PREFIX}.min_losses: must be a number or a list of numbers (one "
                                 f"per task), got {self.min_losses!r}")
            for v in values:
                check_real("min_losses", v)
            object.__setattr__(self, "min_losses", values)


@register("famo")
class FAMO(LossSource, WeightingMethod):
    """FAMO's logits, learned from the log-loss decrease each step achieves per task.

    A task takes part in a logit update when both its before and after losses are finite, >= 0
    and above its m_i (D > 0). The update is FAMO's rule restricted to those tasks: softmax and
    Jacobian over them, only their logits and Adam moments move (weight decay included); with
    every task present it is the reference update. Absent tasks (NaN) and invalid values (logged
    as a warning) keep their logit and their last D.

    ``scores()``: ``logits`` xi, ``z`` = softmax(xi), ``gaps`` D_i used for the weights (NaN until
    measured) and ``delta`` of the last step (NaN for tasks not taking part).
    """

    Params = FAMOParams
    state_fields = {"_logits": ARRAY, "_gaps": NAN_ARRAY, "_delta": NAN_ARRAY, "_adam": STATEFUL}
    informational = ("lr", "weight_decay", "min_losses")  # a resumed run may change them

    def _setup(self) -> None:
        p: FAMOParams = self.params
        self.source = p.source
        self.gaps = ("train" if p.source == "train" else "none") if p.gaps == "auto" else p.gaps
        k = self.num_tasks
        m = p.min_losses
        if isinstance(m, tuple) and len(m) != k:
            raise ValueError(f"{PREFIX}.min_losses: needs one value per task ({k}) or one number, "
                             f"got {len(m)}: {list(m)}")
        self.min_losses = np.broadcast_to(np.asarray(m, dtype=np.float64), (k,)).copy()
        self._adam = Adam(k, lr=p.lr, weight_decay=p.weight_decay)
        self._logits = np.zeros(k)
        self._gaps = np.full(k, math.nan)   # latest D_i (after the step); NaN until measured
        self._delta = np.full(k, math.nan)

    @property
    def needs(self) -> Needs:  # type: ignore[override]
        needs = self._source_needs(after_step=self.source)
        return dataclasses.replace(needs, train_losses=True) if self.gaps == "train" else needs

    def _update(self, signals: Signals) -> None:
        before, what = self._source_losses(signals)
        after = signals.after_losses
        gap_before, gap_after = bm.famo_gaps(before, self.min_losses), bm.famo_gaps(after, self.min_losses)
        ok_before = self._usable(before, gap_before, what)
        ok_after = self._usable(after, gap_after, "after_losses")
        part = ok_before & ok_after
        self._delta[:] = math.nan
        if part.any():
            delta = bm.famo_delta(gap_before[part], gap_after[part])
            grad = np.zeros(self.num_tasks)
            grad[part] = bm.famo_logit_grad(self._logits[part], delta)
            self._logits = self._adam.step(self._logits, grad, mask=part)
            self._delta[part] = delta
        if self.gaps == "train" and self.source == "valid":
            train = signals.train_losses
            gap_train = bm.famo_gaps(train, self.min_losses)
            ok_train = self._usable(train, gap_train, "train_losses")
            self._gaps[ok_train] = gap_train[ok_train]
        elif self.gaps != "none":
            self._gaps[ok_after] = gap_after[ok_after]
        self._weights = self._effective_weights()

    def _usable(self, losses: np.ndarray, gaps: np.ndarray, what: str) -> np.ndarray:
        ok = present(losses, "famo", what, logger, self.t)
        below = ok & ~(gaps > 0)
        if below.any():
            logger.warning("famo: %s below min_losses at controller step %d for tasks %s; skipped",
                           what, self.t, np.flatnonzero(below).tolist())
        return ok & ~below

    def _effective_weights(self) -> np.ndarray:
        if self.gaps == "none" or np.isnan(self._gaps).any():
            return softmax(self._logits)
        return bm.famo_effective_weights(self._logits, self._gaps)

    def scores(self) -> dict[str, list[float] | float]:
        return {"logits": self._logits.tolist(), "z": softmax(self._logits).tolist(),
                "gaps": self._gaps.tolist(), "delta": self._delta.tolist()}

    def _config(self) -> dict[str, Any]:
        return {"source": self.source, "gap_mode": self.gaps}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._weights = self._effective_weights()
