"""Recompute a run's task weights offline from its logs, and compare them with the logged ones.

The method is built again by name, started with the logged initial validation losses and fed,
step by step, the signals the run logged: validation losses (`controller_valid_loss`), training
losses (`task_loss`), and those measured for the method alone (`signal_grad_norms`,
`signal_after_losses`), in the order of the trainer's protocol (mft/weighting/base.py). The
weights it then holds, renormalised over the tasks present in the step, must be the weights the
run logged for that step. A method wired to the wrong signal, a step that used stale weights or
weights computed on the wrong rank all end in other weights.

With the per-task stop (validation.task_patience), a validation record's `task_active` says
which tasks are retired from the next step on; their method weights are then scaled by
`retired_weight` before the renormalisation (mft/task_retirement.py), which the replay does again
here, by its own arithmetic.

Needs `logging.interval=1` (every step's record), no skipped training step and no rollback.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from mft.losses import present_weights
from mft.weighting import RunContext, Signals, WeightingMethod, build_weighting


def build_replica(method: str, params: Any, *, num_tasks: int, context: dict) -> WeightingMethod:
    """The method as the trainer builds it (its params: a dict or the config's parsed Params; the
    run context, when a parameter needs it): the one place the replay calls the registry."""
    return build_weighting(method, num_tasks, params, context=RunContext(**context) if context else None)


def _vector(record: dict, key: str, tasks: list[str]) -> np.ndarray | None:
    if key not in record:
        return None
    return np.array([math.nan if record[key][t] is None else record[key][t] for t in tasks], dtype=np.float64)


def replay_weights(method: str, params: dict, metrics: list[dict], *, update_interval: int = 1,
                   context: dict | None = None,
                   retired_weight: float = 0.0) -> list[tuple[int, list[float], list[float]]]:
    """(step, recomputed weights, logged weights) for every training step of `metrics`."""
    start, steps = metrics[0], [r for r in metrics if r["step"] > 0]
    tasks = list(start["valid_loss"])
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1)), "every step must be logged"
    replica = build_replica(method, params, num_tasks=len(tasks), context=context or {})
    replica.start([start["valid_loss"][t] for t in tasks])
    needs = replica.needs
    scale = np.ones(len(tasks))
    out = []
    for record in steps:
        assert not record.get("skipped_step"), "a skipped step has no training signal to replay"
        update = (record["step"] - 1) % update_interval == 0 and not record.get("controller_skipped")
        val = _vector(record, "controller_valid_loss", tasks)
        if update and not needs.updates_after_step:
            replica.update(Signals(val_losses=val))
        train = _vector(record, "task_loss", tasks)
        scaled = np.asarray(replica.weights, dtype=np.float64) * scale
        scaled = scaled / scaled.sum() if scaled.sum() > 0 else scale / scale.sum()
        used = present_weights(torch.as_tensor(scaled), torch.as_tensor(np.isfinite(train), dtype=torch.float64))
        out.append((record["step"], used.tolist(), [record["weights"][t] for t in tasks]))
        if update and needs.updates_after_step:
            replica.update(Signals(val_losses=val, train_losses=train,
                                   grad_norms=_vector(record, "signal_grad_norms", tasks),
                                   after_losses=_vector(record, "signal_after_losses", tasks)))
        if "task_active" in record:  # this step's validation; it applies from the next step on
            scale = np.array([1.0 if record["task_active"][t] > 0 else retired_weight for t in tasks])
    return out
