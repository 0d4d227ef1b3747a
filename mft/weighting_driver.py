"""When the trainer calls the weighting method, and with what.

    driver = WeightingDriver(method, tasks, update_interval=4, all_reduce_max=all_reduce_max)
    record.update(driver.before_step(step, val_losses))                 # methods that weigh this step
    ...optimizer step...
    record.update(driver.after_step(step, val_losses, train, remeasure))  # methods that read the step

The method's ``needs`` decide everything: whether validation losses are measured before the step
(``wants_val_losses``), whether the update comes before or after the optimizer step, and which
signals it gets. ``applied_weights`` are what the step trains with: the method's weights,
renormalised over the tasks still active (``mft.task_retirement``), the same for every method.
A controller step whose validation losses are not finite is skipped (logged, the method not
called). ``rank_spread`` checks that every rank holds the same weights. No DeepSpeed
here: the measurements come in as arrays and callables, the collective as a function.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .stopwatch import Stopwatch
from .task_retirement import TaskRetirement
from .weighting import Signals, WeightingMethod

logger = logging.getLogger(__name__)

# Signals no other record holds (validation losses are `controller_valid_loss`, training losses
# `task_loss`): logged as `signal_<name>` {task: value} at the controller steps that read them.
METHOD_ONLY_SIGNALS = ("grad_norms", "after_losses")


@dataclass(frozen=True)
class TrainSignals:
    """What one optimizer step measured for the weighting, identical on every rank."""

    train_losses: np.ndarray        # (K,) token-averaged training loss per task; NaN: absent or skipped step
    grad_norms: np.ndarray | None   # (K,) output-layer gradient norms, when the method needs them


class WeightingDriver:
    def __init__(self, method: WeightingMethod, tasks: list[str], *, update_interval: int,
                 all_reduce_max: Callable[[torch.Tensor], torch.Tensor],
                 log: Callable[[str], None] = logger.info, stopwatch: Stopwatch | None = None,
                 retirement: TaskRetirement | None = None) -> None:
        self.method = method
        self.retirement = retirement or TaskRetirement.create(tasks, patience=0, min_delta=0.0)
        self.tasks = list(tasks)
        self.update_interval = update_interval
        self._all_reduce_max = all_reduce_max
        self._log = log
        self._stopwatch = stopwatch or Stopwatch()

    def is_update_step(self, step: int) -> bool:
        """Whether optimizer step ``step`` (1-based) is a controller step: the first, then every
        ``update_interval``-th."""
        return (step - 1) % self.update_interval == 0

    def wants_val_losses(self, step: int) -> bool:
        """Whether the controller validation batch is measured before optimizer step ``step``."""
        return self.is_update_step(step) and self.method.needs.val_losses

    def before_step(self, step: int, val_losses: np.ndarray | None) -> dict:
        """Update a method that weighs this step with what it reads before it (CoBa, LBTW*,
        random); the record entries to log."""
        if not self.is_update_step(step) or self.method.needs.updates_after_step:
            return {}
        return self._update(step, Signals(val_losses=val_losses))

    def after_step(self, step: int, val_losses: np.ndarray | None, train: TrainSignals,
                   remeasure: Callable[[str], np.ndarray]) -> dict:
        """Update a method that reads what the step produced; ``remeasure("train" | "valid")``
        gives the per-task losses of that batch after the step, called only if the method needs
        it. The record entries to log."""
        needs = self.method.needs
        if not self.is_update_step(step) or not needs.updates_after_step:
            return {}
        signals = Signals(val_losses=val_losses if needs.val_losses else None,
                          train_losses=train.train_losses if needs.train_losses else None,
                          grad_norms=train.grad_norms if needs.grad_norms else None,
                          after_losses=remeasure(needs.after_step) if needs.after_step else None)
        return self._update(step, signals)

    def _update(self, step: int, signals: Signals) -> dict:
        val = signals.val_losses
        if val is not None and not np.isfinite(val).all():  # the stratified batch holds every task
            self._log(f"step {step}: non-finite validation loss {np.asarray(val).tolist()}; weights not updated")
            return {"controller_skipped": True}
        with self._stopwatch.time("controller_math"):
            self.method.update(signals)
        record = self.scores()
        for name in METHOD_ONLY_SIGNALS:  # measured for the method alone: logged, so a run can be replayed
            value = getattr(signals, name)
            if value is not None:
                record[f"signal_{name}"] = dict(zip(self.tasks, map(float, np.asarray(value, dtype=np.float64))))
        return record

    def scores(self) -> dict:
        """The method's scores as record entries: ``weighting_<name>``, per task or a scalar."""
        out = {}
        for key, value in self.method.scores().items():
            value = np.asarray(value, dtype=np.float64)
            out[f"weighting_{key}"] = (dict(zip(self.tasks, map(float, value.tolist())))
                                       if value.shape == (len(self.tasks),) else float(value))
        return out

    def applied_weights(self) -> np.ndarray:
        """(K,) the weights the optimizer step uses: a retired task's scaled by validation.retired_weight
        (0: dropped), all renormalised (TaskRetirement.apply)."""
        return self.retirement.apply(self.method.weights)

    def rank_spread(self) -> float:
        """max over tasks of (max - min over ranks) of the applied weights: 0 while the replicas agree."""
        w = torch.as_tensor(self.applied_weights())
        both = self._all_reduce_max(torch.cat([w, -w]))
        highest, neg_lowest = both.split(len(w))
        return float((highest + neg_lowest).max())
