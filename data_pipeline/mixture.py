"""The training samplers behind data.mixing: which rows each rank trains on, and what was seen.

Both samplers have one interface: ``next_step()`` (this rank's micro-batches of row indices),
``steps_per_epoch``, ``epoch``, ``proportions``, ``set_proportions(step, p)``, ``task_samples``
/ ``task_epochs`` (what was seen so far) and ``state_dict`` / ``load_state_dict``.

- `ProportionalSampler`: data.mixing.strategy "proportional", today's `GlobalBatchSampler`
  order unchanged (its state dict too, so old checkpoints resume), plus per-task counts.
- `TaskMixSampler`: every other strategy, and weighting.apply = "sampling". Rows belong to one
  task each. For global batch s, `mixing.slot_tasks(seed, s, p, G)` names the task of each slot;
  task i fills its slots from its own permutation of its rows, epoch after epoch (a new seeded
  permutation per epoch, [seed, SLOT_STREAM, i, epoch]). The per-task cursors are the state: a
  global batch is a function of (seed, s, p, cursors), and the cursors of the global batches
  before it, so geometries with the same G agree and a resumed run continues exactly.
  ``set_proportions(step, p)`` changes p from optimizer step `step` (1-based, the next one) on;
  zeros are allowed (a task with p_i = 0 is not drawn), and p is checkpointed.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .errors import DataError
from .mixing import SLOT_STREAM, normalised, slot_tasks
from .samplers import GlobalBatchSampler, check_geometry, rank_share


def task_counts(rows: Sequence[Sequence[int]], which: Sequence[int], sample_task: np.ndarray, num_tasks: int) -> np.ndarray:
    """Samples of each task (K,) in the rows numbered `which` (None entries are padding)."""
    samples = [s for r in which if r is not None for s in rows[r]]
    return np.bincount(np.asarray(sample_task)[samples].astype(np.int64), minlength=num_tasks)


class ProportionalSampler:
    """`GlobalBatchSampler` over rows that may mix tasks (pack mode), counting each task's samples.

    The order and the state dict are the wrapped sampler's own; the counts are rebuilt from its
    position on resume. Proportions are the tasks' shares of the samples and cannot change.
    """

    def __init__(self, sampler: GlobalBatchSampler, rows: Sequence[Sequence[int]], sample_task: np.ndarray,
                 num_tasks: int):
        self.inner = sampler
        self.rows = rows
        self.sample_task = np.asarray(sample_task)
        self.task_sizes = np.bincount(self.sample_task.astype(np.int64), minlength=num_tasks)
        self.proportions = self.task_sizes / self.task_sizes.sum()
        self.task_samples = np.zeros(num_tasks, dtype=np.int64)

    steps_per_epoch = property(lambda self: self.inner.steps_per_epoch)
    epoch = property(lambda self: self.inner.epoch)
    global_batch_size = property(lambda self: self.inner.global_batch_size)

    @property
    def task_epochs(self) -> np.ndarray:
        return self.task_samples / self.task_sizes

    @property
    def realised_proportions(self) -> np.ndarray:
        """Each task's share of the samples drawn so far."""
        return self.task_samples / max(1, self.task_samples.sum())

    def next_step(self) -> list[list[int | None]]:
        mine = self.inner.next_step()
        drawn = self.inner.global_batch(self.inner.epoch, self.inner.step_in_epoch - 1)
        self.task_samples += task_counts(self.rows, drawn, self.sample_task, len(self.task_sizes))
        return mine

    def set_proportions(self, step: int, proportions: Sequence[float]) -> None:
        raise DataError("data.mixing.strategy 'proportional' walks one permutation of rows that mix tasks and "
                        "cannot change its proportions; use a per-task strategy (temperature 1.0 is proportional)")

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state.get("kind") == "mixture":
            raise DataError(f"cannot resume: the checkpoint was written with data.mixing.strategy "
                            f"{state.get('strategy')!r}, this run uses 'proportional'; resume with the same strategy")
        self.inner.load_state_dict(state)
        inner = self.inner
        seen = inner.epoch_order(inner.epoch)[:inner.step_in_epoch * inner.global_batch_size]
        self.task_samples = inner.epoch * self.task_sizes + task_counts(self.rows, seen, self.sample_task,
                                                                        len(self.task_sizes))


class TaskMixSampler:
    """Global batches whose slots are filled task by task in the given proportions (module docstring).

    `row_task[r]` is the task of row r, `row_samples[r]` the samples it holds (1 in padding mode).
    `label` names what set the proportions (the strategy, or "sampling"); resuming with another
    label is refused.
    """

    def __init__(self, row_task: np.ndarray, num_tasks: int, proportions: Sequence[float], *, world_size: int,
                 rank: int, micro_batch_size: int, grad_accum: int, seed: int,
                 row_samples: np.ndarray | None = None, label: str = ""):
        check_geometry(world_size, rank, micro_batch_size, grad_accum)
        row_task = np.asarray(row_task, dtype=np.int64)
        self.task_rows = [np.flatnonzero(row_task == k) for k in range(num_tasks)]
        empty = [k for k, rows in enumerate(self.task_rows) if len(rows) == 0]
        if empty:
            raise DataError(f"task {empty[0]} has no training rows; every task needs at least one")
        self.row_task = row_task
        self.row_samples = np.ones(len(row_task), dtype=np.int64) if row_samples is None else np.asarray(row_samples)
        self.task_sizes = np.bincount(row_task, weights=self.row_samples, minlength=num_tasks).astype(np.int64)
        self.world_size, self.rank = world_size, rank
        self.micro_batch_size, self.grad_accum = micro_batch_size, grad_accum
        self.global_batch_size = world_size * micro_batch_size * grad_accum
        self.seed = seed
        self.label = label
        self.proportions = normalised(proportions)
        self.proportions_from = 1  # the optimizer step the current proportions apply from
        self.step = 0  # global batches drawn so far
        self.cursors = np.zeros(num_tasks, dtype=np.int64)  # rows drawn so far, per task
        self.task_samples = np.zeros(num_tasks, dtype=np.int64)
        self._perms: dict[int, tuple[int, np.ndarray]] = {}  # task -> (epoch, its permutation)

    @property
    def steps_per_epoch(self) -> int:
        """Steps that draw as many slots as there are rows: what `training.epochs` counts."""
        return math.ceil(len(self.row_task) / self.global_batch_size)

    @property
    def epoch(self) -> int:
        return self.step * self.global_batch_size // len(self.row_task)

    @property
    def task_epochs(self) -> np.ndarray:
        """Passes over each task's rows so far (fractional)."""
        return self.cursors / np.array([len(rows) for rows in self.task_rows])

    @property
    def realised_proportions(self) -> np.ndarray:
        """Each task's share of the slots drawn so far (the unit the proportions count)."""
        return self.cursors / max(1, self.cursors.sum())

    def set_proportions(self, step: int, proportions: Sequence[float]) -> None:
        """Use `proportions` (normalised; zeros allowed, not all) from optimizer step `step` on,
        which must be the next step: proportions change only between global batches."""
        if step != self.step + 1:
            raise ValueError(f"set_proportions: step {step} is not the next step ({self.step + 1}); proportions "
                             "change only at the step about to be drawn")
        p = normalised(proportions)
        if len(p) != len(self.task_rows):
            raise ValueError(f"set_proportions: {len(p)} proportions for {len(self.task_rows)} tasks")
        if not np.array_equal(p, self.proportions):
            self.proportions, self.proportions_from = p, step

    def task_order(self, task: int, epoch: int) -> np.ndarray:
        """Row indices of `task` in the order of its `epoch`-th pass."""
        cached = self._perms.get(task)
        if cached is None or cached[0] != epoch:
            perm = np.random.default_rng([self.seed, SLOT_STREAM, task, epoch]).permutation(len(self.task_rows[task]))
            cached = (epoch, self.task_rows[task][perm])
            self._perms[task] = cached
        return cached[1]

    def global_batch(self) -> list[int]:
        """All G row indices of the next global batch; advances the cursors."""
        tasks = slot_tasks(self.seed, self.step, self.proportions, self.global_batch_size)
        rows = np.empty(self.global_batch_size, dtype=np.int64)
        for k in np.unique(tasks):
            slots = np.flatnonzero(tasks == k)
            draws = self.cursors[k] + np.arange(len(slots))
            n = len(self.task_rows[k])
            for epoch in np.unique(draws // n):
                here = draws // n == epoch
                rows[slots[here]] = self.task_order(int(k), int(epoch))[draws[here] % n]
            self.cursors[k] += len(slots)
        np.add.at(self.task_samples, self.row_task[rows], self.row_samples[rows])
        self.step += 1
        return [int(r) for r in rows]

    def next_step(self) -> list[list[int]]:
        """This rank's micro-batches of the next global batch."""
        return rank_share(self.global_batch(), self.world_size, self.rank, self.micro_batch_size, self.grad_accum)

    def state_dict(self) -> dict:
        return {"kind": "mixture", "strategy": self.label, "seed": self.seed,
                "global_batch_size": self.global_batch_size, "task_rows": [len(r) for r in self.task_rows],
                "step": self.step, "cursors": self.cursors.tolist(), "task_samples": self.task_samples.tolist(),
                "proportions": self.proportions.tolist(), "proportions_from": self.proportions_from}

    def load_state_dict(self, state: dict) -> None:
        """Continue after the saved step with the saved proportions; the world size may change if G stays."""
        if state.get("kind") != "mixture":
            raise DataError(f"cannot resume: the checkpoint was written with data.mixing.strategy 'proportional', "
                            f"this run uses {self.label!r}; resume with the same strategy")
        now = self.state_dict()
        for key in ("strategy", "seed", "global_batch_size", "task_rows"):
            if state[key] != now[key]:
                raise DataError(f"cannot resume the batch sampler: {key} was {state[key]!r} when saved and is "
                                f"{now[key]!r} now; resume with the same data, seed, data.mixing, weighting.apply "
                                "and global batch size (world size x micro_batch_size x grad_accum)")
        self.step = int(state["step"])
        self.cursors = np.asarray(state["cursors"], dtype=np.int64)
        self.task_samples = np.asarray(state["task_samples"], dtype=np.int64)
        self.proportions = np.asarray(state["proportions"], dtype=np.float64)
        self.proportions_from = int(state["proportions_from"])
