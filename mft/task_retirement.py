"""Per-task overfitting stop: retire a task whose own validation loss stopped improving.

    retirement = TaskRetirement.create(tasks, patience=2, min_delta=0.0, rollback=False)
    newly = retirement.observe(step, full_validation_losses)   # at each full validation
    weights = retirement.apply(method_weights)                  # what the step trains with

At each full validation, an active task whose loss has not fallen below its own best by more
than `min_delta` for `patience` evaluations in a row is retired. From then on its loss weight is
its method weight times `retired_weight` (0 by default: dropped; a small factor holds the task
back without letting the model forget it), and every weighting method's weights are renormalised
(`apply`, one place for every method; the method itself still sees all signals, so CoBa's history
stays complete).
The last active task is never retired: stopping the whole run is early stopping's job.

With `rollback`, the checkpoints of each active task's best step are kept (`protected_steps`)
so the trainer can go back to where a retired task was best (mSFT, arXiv 2603.21606).
The first validation after step 0 sets each task's first best (the initial validation does not
count: there is no checkpoint of step 0 to roll back to).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Collection, Sequence

import numpy as np

from .config_loader import ConfigError


def renormalise(weights: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """weights * scale / sum, summing to 1: `scale` is 1 for an active task and the retired weight
    factor (0: dropped) for a retired one. Where the method put all its weight on tasks scaled to
    0, `scale` itself renormalised."""
    w = np.asarray(weights, dtype=np.float64) * scale
    total = w.sum()
    if not total > 0:
        return np.asarray(scale, dtype=np.float64) / np.sum(scale)
    return w / total


def _finite_or_none(value: float) -> float | None:
    """A loss for strict JSON (checkpoints, summary.json): None where it was never measured or NaN."""
    return float(value) if math.isfinite(value) else None


@dataclass
class TaskRetirement:
    tasks: list[str]
    patience: int = 0                   # 0: never retire (validation.task_patience)
    min_delta: float = 0.0
    rollback: bool = False
    retired_weight: float = 0.0         # a retired task's factor on its method weight (0: dropped)
    best: list[float] = field(default_factory=list)
    best_step: list[int] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)
    retired_step: list[int | None] = field(default_factory=list)  # the validation step that retired it
    events: list[dict] = field(default_factory=list)              # one per retirement, for logs and summary

    @classmethod
    def create(cls, tasks: Sequence[str], *, patience: int, min_delta: float, rollback: bool = False,
               retired_weight: float = 0.0) -> "TaskRetirement":
        k = len(tasks)
        return cls(list(tasks), patience, min_delta, rollback, retired_weight,
                   [math.inf] * k, [-1] * k, [0] * k, [None] * k)

    @property
    def enabled(self) -> bool:
        return self.patience > 0

    @property
    def active(self) -> np.ndarray:
        """(K,) float64, 1.0 for a task still trained, 0.0 for a retired one."""
        return np.array([0.0 if s is not None else 1.0 for s in self.retired_step])

    @property
    def scale(self) -> np.ndarray:
        """(K,) the factor on each task's method weight: 1.0 while active, `retired_weight` once retired."""
        return np.where(self.active > 0, 1.0, self.retired_weight)

    @property
    def drawn(self) -> np.ndarray:
        """(K,) 1.0 for a task the sampler should still draw: active, or retired with a weight
        (under apply "loss" that weight acts through the loss alone, not twice through the mix)."""
        return (self.scale > 0).astype(np.float64)

    def apply(self, weights: np.ndarray) -> np.ndarray:
        """The weights the step trains with: the method's times `scale`, renormalised."""
        return renormalise(weights, self.scale) if self.enabled else np.asarray(weights, dtype=np.float64)

    def observe(self, step: int, losses: Sequence[float]) -> list[int]:
        """Record one full validation; returns the indices of the tasks retired by it."""
        if not self.enabled:
            return []
        newly = []
        for i, loss in enumerate(losses):
            if self.retired_step[i] is not None:
                continue
            if math.isfinite(loss) and loss < self.best[i] - self.min_delta:
                self.best[i], self.best_step[i], self.bad[i] = float(loss), step, 0
            else:
                self.bad[i] += 1
                if self.bad[i] >= self.patience:
                    newly.append(i)
        for i in newly:
            if self.active.sum() <= 1:
                break  # keep the last one
            self.retired_step[i] = step
            self.events.append({"task": self.tasks[i], "step": step, "best_step": self.best_step[i],
                                "best_valid_loss": _finite_or_none(self.best[i]),
                                "valid_loss": _finite_or_none(losses[i])})
        return [i for i in newly if self.retired_step[i] == step]

    def record(self, newly: Sequence[int]) -> dict:
        """Entries of the validation's metrics record: `task_active` per task (TensorBoard plots it)
        and, on a retirement, `retired` (the names)."""
        if not self.enabled:
            return {}
        out: dict[str, Any] = {"task_active": dict(zip(self.tasks, self.active.tolist()))}
        if newly:
            out["retired"] = [self.tasks[i] for i in newly]
        return out

    def rollback_step(self, newly: Sequence[int], kept: Collection[int]) -> int | None:
        """With rollback on, the step to go back to for these newly retired tasks: the earliest of
        their best steps, or the newest checkpoint in `kept` before it (after an earlier rollback a
        task's best step can lie on the abandoned branch's pruned history); None when rollback is
        off, no best was ever measured, or no checkpoint that early is kept."""
        steps = [self.best_step[i] for i in newly if self.best_step[i] > 0]
        if not (self.rollback and steps):
            return None
        usable = [s for s in kept if s <= min(steps)]
        return max(usable) if usable else None

    def protected_steps(self) -> set[int]:
        """With rollback on, the best steps of the active tasks: their checkpoints must stay."""
        if not self.rollback:
            return set()
        return {s for s, r in zip(self.best_step, self.retired_step) if r is None and s > 0}

    def wants_checkpoint(self, step: int) -> bool:
        """Whether a checkpoint must be written at `step`: with rollback, a task's new best."""
        return step in self.protected_steps()

    def keep_retired(self, later: "TaskRetirement") -> None:
        """After a rollback to an earlier state: the retirements of `later` stay (a rolled-back run
        does not un-retire a task), and so do its events."""
        self.retired_step = [b if b is not None else a for a, b in zip(self.retired_step, later.retired_step)]
        self.events = [dict(e) for e in later.events]

    def state_dict(self) -> dict:
        state = asdict(self)
        state["best"] = [None if math.isinf(b) else b for b in self.best]  # strict JSON
        return state

    def load_state_dict(self, state: dict) -> None:
        now = (self.tasks, self.patience, self.min_delta, self.rollback, self.retired_weight)
        saved = (state["tasks"], state["patience"], state["min_delta"], state["rollback"],
                 state.get("retired_weight", 0.0))  # checkpoints written before retired_weight: 0
        if saved != now:
            raise ConfigError(f"validation.task_patience: cannot resume the per-task stop: saved (tasks, task_patience, min_delta, rollback, retired_weight) "
                             f"{saved}, now {now}; resume with the same validation settings")
        self.best = [math.inf if b is None else float(b) for b in state["best"]]
        self.best_step = [int(s) for s in state["best_step"]]
        self.bad = [int(b) for b in state["bad"]]
        self.retired_step = [None if s is None else int(s) for s in state["retired_step"]]
        self.events = [dict(e) for e in state["events"]]
