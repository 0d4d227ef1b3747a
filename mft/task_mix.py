"""data.mixing and weighting.apply in a run: the training rows, the sampler, the loss weights, what was seen.

    mix = TaskMix(cfg, data, world_size=W, rank=r)     # rows, sampler and total_steps from the config
    mix.before_batch(step, weighting.weights)          # apply "sampling": the weights become the proportions
    mix.exclude(step, active)                          # retired tasks (active 0) are no longer drawn
    weights = mix.loss_weights(weighting.weights, task_tokens)  # apply "sampling": the plain token average
    record.update(mix.stats())                         # task_samples, task_epochs, task_proportion

The math is in `data_pipeline.mixing`, the samplers in `data_pipeline.mixture`; this module turns
the config into them and names the config key in every error. `check_mix_config` refuses, when
the config loads, the combinations that make no sense (docs/mixing.md).
"""
from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from data_pipeline import (GlobalBatchSampler, MultiTaskData, ProportionalSampler, TaskMixSampler, plan_rows,
                           plan_task_rows, row_lengths)
from data_pipeline import mixing

from .config_loader import ConfigError
from .task_retirement import renormalise

if TYPE_CHECKING:
    from .config import RunConfig


def check_mix_config(data: Any, training: Any, weighting: Any) -> None:
    """ConfigError for a data.mixing / weighting.apply / training combination that cannot work."""
    strategy = data.mixing.strategy
    if strategy == "unimax" and not training.max_steps:
        raise ConfigError("training.epochs: data.mixing.strategy 'unimax' shares a budget of training.max_steps "
                          "steps among the tasks; set training.max_steps instead of training.epochs")
    if weighting.apply == "sampling" and strategy != "proportional":
        raise ConfigError(f"weighting.apply: 'sampling' lets weighting.method set the task proportions, and so does "
                          f"data.mixing.strategy {strategy!r}; remove one of them")
    if weighting.apply == "sampling" and data.group_by_length:
        raise ConfigError("data.group_by_length: works with proportional mixing only, not with "
                          "weighting.apply 'sampling'; set group_by_length to false")


def strategy_proportions(cfg: RunConfig, tasks: list[str], sizes: np.ndarray, total_slots: int) -> np.ndarray:
    """The task proportions of data.mixing.strategy over a run of `total_slots` slots; ConfigError
    naming the key when UniMax's budget cannot be filled or a task's share rounds to 0 slots."""
    m, index = cfg.data.mixing, {t.name: i for i, t in enumerate(cfg.data.tasks)}
    if m.strategy == "fixed":
        weights = [cfg.data.tasks[index[t]].weight for t in tasks]
        p, keys = mixing.fixed(weights), [f"data.tasks[{index[t]}].weight" for t in tasks]
    elif m.strategy == "temperature":
        p, keys = mixing.temperature(sizes, m.temperature), ["data.mixing.temperature"] * len(tasks)
    else:
        try:
            p = mixing.unimax(sizes, total_slots, m.max_epochs)
        except ValueError as exc:
            raise ConfigError(f"training.max_steps: {exc}; lower training.max_steps or raise data.mixing.max_epochs") from None
        keys = ["training.max_steps"] * len(tasks)
    for i in mixing.rounds_to_zero(p, total_slots):
        raise ConfigError(f"{keys[i]}: task {tasks[i]!r} gets {p[i] * total_slots:.2f} of the run's {total_slots} slots "
                          f"(proportion {p[i]:.2e}), which rounds to none; raise its share or the run's length")
    return p


class TaskMix:
    """The run's training rows and sampler, built from data.mixing and weighting.apply (module docstring)."""

    def __init__(self, cfg: RunConfig, data: MultiTaskData, *, world_size: int, rank: int):
        d, t = cfg.data.selected(), cfg.training
        self.tasks = list(data.task_names)
        self.sampling = cfg.weighting.apply == "sampling"
        self.label = "sampling" if self.sampling else d.mixing.strategy
        geometry = dict(world_size=world_size, rank=rank, micro_batch_size=t.micro_batch_size,
                        grad_accum=t.grad_accum, seed=t.seed)
        k = len(self.tasks)
        if self.label == "proportional":  # today's order, bit for bit
            self.rows = plan_rows(data.train, d.mode, d.seq_length, t.seed)
            lengths = row_lengths(data.train, self.rows) if d.group_by_length else None
            inner = GlobalBatchSampler(len(self.rows), **geometry,
                                       drop_last=False,  # every row once per epoch; the last step is padded
                                       lengths=lengths)
            self.sampler: ProportionalSampler | TaskMixSampler = ProportionalSampler(inner, self.rows,
                                                                                     data.train.task_ids, k)
        else:
            self.rows, row_task = plan_task_rows(data.train, d.mode, d.seq_length, t.seed)
            self.sampler = TaskMixSampler(row_task, k, np.full(k, 1.0 / k), **geometry, label=self.label,
                                          row_samples=np.array([len(r) for r in self.rows]))
        self.total_steps = t.max_steps or max(1, math.ceil(t.epochs * self.sampler.steps_per_epoch))
        if not self.sampling and self.label != "proportional":
            sizes = np.bincount(row_task, minlength=k)
            p = strategy_proportions(cfg, self.tasks, sizes, self.total_steps * self.sampler.global_batch_size)
            self.sampler.set_proportions(1, p)

    def before_batch(self, step: int, weights: np.ndarray) -> None:
        """Before drawing optimizer step `step`'s batch: under apply "sampling", the weighting
        method's current weights become the proportions (identical on every rank)."""
        if self.sampling:
            self.sampler.set_proportions(step, weights)

    def exclude(self, step: int, active: np.ndarray) -> bool:
        """Tasks with `active` 0 (retired, validation.task_patience) are no longer drawn from
        optimizer step `step` (the next one) on; the active tasks share their slots in their own
        ratio. False where the sampler cannot: `proportional` walks one permutation of rows that mix
        tasks, so a retired task's rows still come there, weighted 0. Under apply "sampling" the
        weights, 0 for a retired task, set the proportions at every step anyway."""
        if not isinstance(self.sampler, TaskMixSampler):
            return False
        if not self.sampling:  # under "sampling", before_batch sets them from the renormalised weights
            self.sampler.set_proportions(step, renormalise(self.sampler.proportions, active))
        return True

    def loss_weights(self, weights: np.ndarray, task_tokens: Any) -> np.ndarray:
        """The weights the loss uses: the method's, or under apply "sampling" each task's tokens,
        which `losses.weighted_loss` turns into the plain token average of the batch."""
        if self.sampling:
            return np.asarray(task_tokens, dtype=np.float64)
        return np.asarray(weights, dtype=np.float64)

    def stats(self) -> dict:
        """Cumulative samples and epochs of each task and its current proportion (metrics.jsonl)."""
        s = self.sampler
        return {"task_samples": self._per_task(s.task_samples, int), "task_epochs": self._per_task(s.task_epochs),
                "task_proportion": self._per_task(s.proportions)}

    def summary(self) -> dict:
        """The realised mix for the run summary: the stats plus each task's share of what was drawn."""
        return {"strategy": self.label, **self.stats(),
                "realised_proportion": self._per_task(self.sampler.realised_proportions)}

    def _per_task(self, values: Any, kind: type = float) -> dict:
        return {t: kind(v) for t, v in zip(self.tasks, np.asarray(values).tolist())}


def mix_lines(mix: dict) -> list[str]:
    """The realised mix as lines of the run summary's text."""
    lines = [f"mix ({mix['strategy']}): task proportion now / realised, samples, epochs"]
    for t, p in mix["task_proportion"].items():
        lines.append(f"  {t:>16}: {p:.3f} / {mix['realised_proportion'][t]:.3f}, {mix['task_samples'][t]} samples, "
                     f"{mix['task_epochs'][t]:.2f} epochs")
    return lines


def read_run_mix(output_dir: str) -> dict | None:
    """The realised mix from a finished run's summary.json (None for runs from before data.mixing)."""
    path = os.path.join(output_dir, "summary.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("mix")


def mix_table(mixes: dict[str, dict]) -> str:
    """Markdown: per run (row), each task's realised share of the slots drawn and its epochs."""
    tasks = list(next(iter(mixes.values()))["realised_proportion"])
    lines = ["| run | mix | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 2) + "|"]
    for name, mix in mixes.items():
        cells = [f"{mix['realised_proportion'][t]:.3f} ({mix['task_epochs'][t]:.2f} ep)" for t in tasks]
        lines.append(f"| {name} | {mix['strategy']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
