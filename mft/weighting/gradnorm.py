"""GradNorm (Chen et al. 2018): learn weights w (summing to K) that equalise the task gradient
norms G_i = w_i || grad_W l_i || on the output layer W, pushing slower tasks harder.

At each controller step, after the training step that used the current weights:
  r_i = (l_i / l_i(0)) / mean_j (l_j / l_j(0)),  target_i = mean(G) * r_i^alpha (held constant),
  L_grad = sum_i | G_i - target_i |,  d L_grad / d w_i = sign(G_i - target_i) * grad_norms_i,
then one step of the method's own Adam on w, a clip at 0, and renormalisation to sum K
(``baselines_math.gradnorm_*``). The trainer gives grad_norms_i = || d l_i / d W || for the
unweighted task losses of this step's batch.

- ``source="train"`` (GradNorm): l_i this step's training losses; l_i(0) each task's first
  training loss (first step where it appears).
- ``source="valid"`` (GradNorm*): l_i the controller validation losses (before the step); l_i(0)
  from ``start()`` (the full validation pass before training), else the first update's losses.

The paper updates w with the network's optimizer and gives no separate learning rate; here w has
its own Adam with ``lr`` = 0.025 (FAMO's rate for its logits), because at fine-tuning learning
rates a weight trained by the model's optimizer stays near uniform (the CoBa paper's observation).
Adam also makes the step independent of the scale of the gradient norms.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from . import baselines_math as bm
from .adam import Adam
from .base import Needs, Signals, WeightingMethod, register
from .common import SOURCES, LossSource, StartReference, check_real, present
from .state import ARRAY, BOOL, FLOAT, NAN_ARRAY, NAN_ARRAY_DICT, STATEFUL

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GradNormParams:
    source: str = dataclasses.field(default="train", metadata={"choices": SOURCES})  # "train" (GradNorm) or "valid" (GradNorm*: ratios from validation losses)
    alpha: float = 1.5      # restoring force: larger pulls slow tasks harder
    lr: float = 0.025       # the weights' own Adam learning rate (not from the paper; see module doc)

    def __post_init__(self) -> None:
        check_real("alpha", self.alpha, low=0.0)
        check_real("lr", self.lr, low=0.0, low_open=True)


@register("gradnorm")
class GradNorm(StartReference, LossSource, WeightingMethod):
    """GradNorm on the output layer's per-task gradient norms.

    Only the tasks present in a step take part (finite loss >= 0, finite gradient norm >= 0, and
    l_i(0) known): mean(G) and the ratios are over them, only their weights and Adam moments
    move, and they are rescaled to keep their sum, so absent tasks keep their weight and the
    total stays K (with every task present this is the paper's renormalisation). A NaN marks an
    absent task; a non-finite or negative value is skipped with a warning. A step with no task
    taking part changes nothing but ``t``.

    ``scores()``: ``raw_weights`` (sum K), and for the last step ``inverse_rates`` r_i,
    ``weighted_grad_norms`` G_i, ``targets`` (NaN for tasks not taking part) and ``gradnorm_loss``.
    """

    Params = GradNormParams
    state_fields = {"_raw_weights": ARRAY, "_initial_losses": NAN_ARRAY, "_started": BOOL, "_adam": STATEFUL,
                    "_last": NAN_ARRAY_DICT, "_gradnorm_loss": FLOAT}
    informational = ("alpha", "lr")  # a resumed run may change them

    def _setup(self) -> None:
        self.source, self.alpha = self.params.source, float(self.params.alpha)
        k = self.num_tasks
        self._adam = Adam(k, lr=self.params.lr)
        self._raw_weights = np.ones(k)                # w, summing to K
        self._initial_losses = np.full(k, math.nan)   # l_i(0); NaN = not known yet
        self._last = {key: np.full(k, math.nan) for key in ("inverse_rates", "weighted_grad_norms", "targets")}
        self._gradnorm_loss = 0.0

    @property
    def needs(self) -> Needs:  # type: ignore[override]
        return self._source_needs(grad_norms=True)

    def _update(self, signals: Signals) -> None:
        losses, what = self._source_losses(signals)
        norms = signals.grad_norms
        ok = present(losses, "gradnorm", what, logger, self.t) & present(norms, "gradnorm", "grad_norms", logger, self.t)
        self._take_reference(losses, ok)
        with np.errstate(all="ignore"):
            part = ok & np.isfinite(losses / self._initial_losses)  # l(0) known, the ratio finite
        for values in self._last.values():
            values[:] = math.nan
        if not part.any():
            return
        w, g = self._raw_weights[part], norms[part]
        rates = bm.gradnorm_inverse_rates(losses[part], self._initial_losses[part])
        weighted = w * g
        targets = bm.gradnorm_targets(weighted, rates, self.alpha)
        grad = np.zeros(self.num_tasks)
        grad[part] = bm.gradnorm_weight_grad(w, g, targets)
        stepped = self._adam.step(self._raw_weights, grad, mask=part)
        # keep the participating tasks' share: K minus what the others hold (all present: K)
        others = float(self._raw_weights[~part].sum())
        self._raw_weights[part] = bm.gradnorm_renormalise(stepped[part], self.num_tasks - others)
        self._weights = bm.normalise(self._raw_weights)
        self._last["inverse_rates"][part] = rates
        self._last["weighted_grad_norms"][part] = weighted
        self._last["targets"][part] = targets
        self._gradnorm_loss = bm.gradnorm_loss(weighted, targets)

    def scores(self) -> dict[str, list[float] | float]:
        return {"raw_weights": self._raw_weights.tolist(), **{k: v.tolist() for k, v in self._last.items()},
                "gradnorm_loss": self._gradnorm_loss}

    def _config(self) -> dict[str, Any]:
        return {"source": self.source}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._weights = bm.normalise(self._raw_weights)
