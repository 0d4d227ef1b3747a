"""Which validation rows the weighting controller measures: fresh ones each step, or the same ones.

    sampler = probe_sampler("fixed", data.valid.task_ids, K, samples_per_task, seed,
                            batches_per_step=m, world_size=W, rank=r)
    rows = [sampler.next_global_rows() for _ in range(m)]   # one controller step

`resample` (StratifiedValidSampler) walks through each task's validation samples, so two
consecutive controller losses differ by what the model learned AND by which samples were drawn.
`fixed` measures the same m stratified batches at every controller step (common random numbers):
the sampling noise cancels from a loss trajectory and only the model's change remains, at the
cost of a slope that describes those m x samples_per_task rows of each task rather than the whole
validation split. The rows depend only on the seed, so every rank holds the same ones.
"""
from __future__ import annotations

from .errors import DataError
from .samplers import StratifiedValidSampler

PROBES = ("resample", "fixed")


class FixedProbeSampler(StratifiedValidSampler):
    """The first `batches_per_step` batches StratifiedValidSampler would give, repeated forever:
    call i returns batch i mod batches_per_step, so each controller step (m calls) measures the
    same rows. `num_batches_per_pass` stays the parent's (CoBa's M), so the "auto" window means
    the same number of controller steps under both probes."""

    probe = "fixed"

    def __init__(self, task_ids, num_tasks: int, samples_per_task: int, seed: int, *, batches_per_step: int,
                 world_size: int = 1, rank: int = 0):
        super().__init__(task_ids, num_tasks, samples_per_task, seed, world_size=world_size, rank=rank)
        if batches_per_step < 1:
            raise ValueError(f"batches_per_step must be >= 1, got {batches_per_step}")
        self.batches = [super(FixedProbeSampler, self).next_global_rows() for _ in range(batches_per_step)]
        self.cursors = [0] * num_tasks
        self.position = 0  # calls so far, modulo batches_per_step

    def next_global_rows(self) -> list[list[int]]:
        rows = [list(row) for row in self.batches[self.position]]
        self.position = (self.position + 1) % len(self.batches)
        return rows

    def state_dict(self) -> dict:
        return {**super().state_dict(), "position": self.position, "batches_per_step": len(self.batches)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if state.get("batches_per_step") != len(self.batches):
            raise DataError(f"cannot resume the controller probe: saved probe {state.get('probe', 'resample')!r} "
                            f"with {state.get('batches_per_step')} batch(es) per step, now 'fixed' with "
                            f"{len(self.batches)}; resume with the same weighting.probe and weighting.valid_batches")
        self.position = int(state["position"])


def probe_sampler(probe: str, task_ids, num_tasks: int, samples_per_task: int, seed: int, *,
                  batches_per_step: int, world_size: int = 1, rank: int = 0) -> StratifiedValidSampler:
    """The controller's validation sampler for `weighting.probe` (one of PROBES)."""
    if probe == "resample":
        return StratifiedValidSampler(task_ids, num_tasks, samples_per_task, seed, world_size=world_size, rank=rank)
    if probe == "fixed":
        return FixedProbeSampler(task_ids, num_tasks, samples_per_task, seed, batches_per_step=batches_per_step,
                                 world_size=world_size, rank=rank)
    raise ValueError(f"unknown probe {probe!r}; choose one of {', '.join(PROBES)}")
