"""Which rows each rank trains on at each step, and the stratified validation batches.

User-facing problems (too little data for the batch geometry, resuming with other data or
geometry, a task without validation samples) raise DataError; bad arguments raise ValueError.

GlobalBatchSampler thinks in GLOBAL batches: step s of an epoch covers positions
[s*G, (s+1)*G) of that epoch's permutation of the rows, G = world_size * micro_batch_size *
grad_accum. Position j of that slice goes to micro-batch j // (world_size * micro_batch_size),
rank (j // micro_batch_size) % world_size, slot j % micro_batch_size. So the union over ranks of
a step is exactly the slice, and geometries with the same G (1 rank x accum 2, 2 ranks x
accum 1) train on the same global batches: what the global token averaging of the loss needs to
make results independent of the geometry.

Length grouping (``lengths`` given) reorders each epoch's permutation window by window: a window
of WINDOW_BATCHES global batches is sorted by row length, cut into global batches, and those
batches are shuffled (seeded). Every global batch then holds rows of similar length, so dynamic
padding wastes little, while the batch order stays random and every row still comes once per
epoch. Batches are cut at multiples of G, so the geometry and resume guarantees above still hold.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from .errors import DataError

WINDOW_BATCHES = 64  # global batches per length-grouping window


class GlobalBatchSampler:
    """Per optimizer step: this rank's `grad_accum` micro-batches of `micro_batch_size` row indices.

    Iterates forever across epochs (`next_step()` or `iter()`); `epoch` and `step_in_epoch` name
    the NEXT step. drop_last=True drops the last partial global batch of every epoch;
    drop_last=False fills it with None (padding rows) so every rank still gets full micro-batches
    and every row is seen exactly once per epoch. `lengths` (tokens per row) turns on length
    grouping (see the module docstring).
    """

    def __init__(
        self,
        num_rows: int,
        *,
        world_size: int,
        rank: int,
        micro_batch_size: int,
        grad_accum: int,
        seed: int,
        shuffle: bool = True,
        drop_last: bool = True,
        lengths: np.ndarray | None = None,
    ):
        check_geometry(world_size, rank, micro_batch_size, grad_accum)
        self.num_rows = num_rows
        self.world_size = world_size
        self.rank = rank
        self.micro_batch_size = micro_batch_size
        self.grad_accum = grad_accum
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        if lengths is not None and len(lengths) != num_rows:
            raise ValueError(f"lengths has {len(lengths)} entries for {num_rows} rows")
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.global_batch_size = world_size * micro_batch_size * grad_accum
        if num_rows < 1 or (drop_last and num_rows < self.global_batch_size):
            raise DataError(
                f"{num_rows} row(s) cannot fill one global batch of {self.global_batch_size} "
                f"(micro_batch_size {micro_batch_size} x grad_accum {grad_accum} x world size {world_size}); "
                "lower micro_batch_size or grad_accum, add data, or set drop_last=False"
            )
        self.epoch = 0
        self.step_in_epoch = 0
        self._order_epoch: int | None = None
        self._order = np.arange(0)

    @property
    def steps_per_epoch(self) -> int:
        if self.drop_last:
            return self.num_rows // self.global_batch_size
        return math.ceil(self.num_rows / self.global_batch_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The global row order of `epoch`."""
        if self._order_epoch != epoch:
            if self.shuffle:
                self._order = np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)
            else:
                self._order = np.arange(self.num_rows)
            if self.lengths is not None:
                rng = np.random.default_rng([self.seed, epoch, 1])
                self._order = length_grouped(self._order, self.lengths, self.global_batch_size, rng)
            self._order_epoch = epoch
        return self._order

    def global_batch(self, epoch: int, step: int) -> list[int | None]:
        """All G row indices of one step (None where a partial last batch runs out)."""
        G = self.global_batch_size
        rows: list[int | None] = [int(i) for i in self.epoch_order(epoch)[step * G : (step + 1) * G]]
        return rows + [None] * (G - len(rows))

    def next_step(self) -> list[list[int | None]]:
        """This rank's micro-batches for the next step; advances the position."""
        if self.step_in_epoch >= self.steps_per_epoch:
            self.epoch += 1
            self.step_in_epoch = 0
        batch = self.global_batch(self.epoch, self.step_in_epoch)
        self.step_in_epoch += 1
        return rank_share(batch, self.world_size, self.rank, self.micro_batch_size, self.grad_accum)

    def __iter__(self) -> Iterator[list[list[int | None]]]:
        while True:
            yield self.next_step()

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "seed": self.seed,
            "num_rows": self.num_rows,
            "global_batch_size": self.global_batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "group_by_length": self.lengths is not None,
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume at the step after the saved one. The world size may change if G stays equal."""
        now = self.state_dict()
        for key in ("num_rows", "global_batch_size", "seed", "shuffle", "drop_last", "group_by_length"):
            if state.get(key, False) != now[key]:
                raise DataError(
                    f"cannot resume the batch sampler: {key} was {state.get(key, False)!r} when saved and is "
                    f"{now[key]!r} now; resume with the same data, seed, data.group_by_length and global "
                    "batch size (world size x micro_batch_size x grad_accum)"
                )
        if not 0 <= state["step_in_epoch"] <= self.steps_per_epoch:
            raise DataError(f"cannot resume the batch sampler: step_in_epoch {state['step_in_epoch']} is out of range")
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])


def check_geometry(world_size: int, rank: int, micro_batch_size: int, grad_accum: int) -> None:
    """ValueError unless 0 <= rank < world_size and micro_batch_size, grad_accum >= 1."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    if micro_batch_size < 1 or grad_accum < 1:
        raise ValueError(f"micro_batch_size ({micro_batch_size}) and grad_accum ({grad_accum}) must be >= 1")


def rank_share(batch: list, world_size: int, rank: int, micro_batch_size: int, grad_accum: int) -> list[list]:
    """This rank's `grad_accum` micro-batches of a global batch: position j goes to micro-batch
    j // (world_size * micro_batch_size), rank (j // micro_batch_size) % world_size (module docstring)."""
    per_micro = world_size * micro_batch_size
    return [batch[a * per_micro + rank * micro_batch_size:][:micro_batch_size] for a in range(grad_accum)]


def length_grouped(order: np.ndarray, lengths: np.ndarray, batch: int, rng: np.random.Generator,
                   window_batches: int = WINDOW_BATCHES) -> np.ndarray:
    """`order` regrouped so that each run of `batch` positions holds rows of similar length.

    Each window of `window_batches * batch` positions is sorted by length (longest first, ties
    in `order`'s order) and cut into runs of `batch`; the full runs of a window are shuffled with
    `rng`, a short last run (the epoch's end) stays last. A permutation of `order`.
    """
    window = window_batches * batch
    out = []
    for start in range(0, len(order), window):
        rows = order[start:start + window]
        rows = rows[np.argsort(-lengths[rows], kind="stable")]
        runs = [rows[i:i + batch] for i in range(0, len(rows), batch)]
        full = len(rows) // batch
        out += [runs[i] for i in rng.permutation(full)] + runs[full:]
    return np.concatenate(out) if out else order


class StratifiedValidSampler:
    """Controller validation batches: `samples_per_task` samples of EVERY task per batch.

    Each task's validation samples are shuffled once (seeded per task) and then cycled, wrapping
    around at the end (a task with fewer samples than samples_per_task repeats some within a
    batch). The global batch lists task 0's samples, then task 1's, ...; this rank gets items
    rank::world_size, padded with None so every rank runs the same number of rows.
    """

    probe = "resample"  # weighting.probe: a new batch at every controller step

    def __init__(
        self,
        task_ids: np.ndarray,
        num_tasks: int,
        samples_per_task: int,
        seed: int,
        *,
        world_size: int = 1,
        rank: int = 0,
    ):
        if samples_per_task < 1:
            raise ValueError(f"samples_per_task must be >= 1, got {samples_per_task}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        task_ids = np.asarray(task_ids)
        self.orders = []
        for k in range(num_tasks):
            indices = np.flatnonzero(task_ids == k)
            if len(indices) == 0:
                raise DataError(f"task {k} has no validation samples; every task needs at least one")
            self.orders.append(np.random.default_rng([seed, k]).permutation(indices))
        self.num_tasks = num_tasks
        self.samples_per_task = samples_per_task
        self.seed = seed
        self.world_size = world_size
        self.rank = rank
        self.cursors = [0] * num_tasks

    @property
    def num_batches_per_pass(self) -> int:
        """Batches needed to see every task's validation samples once (CoBa's M)."""
        return math.ceil(max(len(order) for order in self.orders) / self.samples_per_task)

    def next_global_rows(self) -> list[list[int]]:
        """The whole controller batch (all ranks), as single-sample rows; advances the cursors."""
        rows = []
        for k, order in enumerate(self.orders):
            picks = (self.cursors[k] + np.arange(self.samples_per_task)) % len(order)
            rows += [[int(order[p])] for p in picks]
            self.cursors[k] = int((self.cursors[k] + self.samples_per_task) % len(order))
        return rows

    def next_rows(self) -> list[list[int] | None]:
        """This rank's share of the next controller batch."""
        return shard_rows(self.next_global_rows(), self.world_size, self.rank)

    def state_dict(self) -> dict:
        return {"cursors": list(self.cursors), "task_sizes": [len(o) for o in self.orders], "seed": self.seed,
                "probe": self.probe}

    def load_state_dict(self, state: dict) -> None:
        sizes = [len(o) for o in self.orders]
        if state.get("probe", "resample") != self.probe:  # states saved before weighting.probe: resample
            raise DataError(f"cannot resume the controller probe: saved weighting.probe {state['probe']!r}, now "
                            f"{self.probe!r}; resume with the same weighting.probe")
        if state["task_sizes"] != sizes or state["seed"] != self.seed:
            raise DataError(
                f"cannot resume the validation sampler: saved task sizes {state['task_sizes']} / seed "
                f"{state['seed']} differ from {sizes} / {self.seed}; resume with the same validation data and seed"
            )
        self.cursors = [int(c) for c in state["cursors"]]


def shard_rows(rows: list, world_size: int, rank: int) -> list:
    """Items rank::world_size of `rows`, padded with None to ceil(len(rows) / world_size)."""
    mine = list(rows[rank::world_size])
    return mine + [None] * (math.ceil(len(rows) / world_size) - len(mine))
