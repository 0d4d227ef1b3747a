"""The replay that test_every_baseline_on_two_ranks runs on each method's logs, on logs written
here by the real WeightingDriver (no DeepSpeed): it agrees with a run wired as the protocol says,
and catches one whose method read another signal than the log's."""
import numpy as np
import pytest
import torch

from mft.losses import present_weights
from mft.weighting import build_weighting
from mft.weighting_driver import TrainSignals, WeightingDriver
from weighting_replay import replay_weights

TASKS = ["a", "b", "c"]
METHODS = [("dwa", {"period": 2}), ("famo", {"source": "valid"}), ("gradnorm", {"source": "train"}),
           ("lbtw", {"source": "valid"}), ("uncertainty", {})]


def _log(method: str, params: dict, *, steps: int = 8, wrong_train=None) -> list[dict]:
    """metrics.jsonl of a fake run that calls the driver as the trainer does; `wrong_train` maps
    the training losses the method is given (a mis-wiring), the log keeps the right ones."""
    rng = np.random.default_rng(0)
    weighting = build_weighting(method, num_tasks=3, **params)
    driver = WeightingDriver(weighting, TASKS, update_interval=1, all_reduce_max=lambda t: t)
    start = rng.uniform(2, 3, 3)
    weighting.start(start.tolist())
    records = [{"step": 0, "valid_loss": dict(zip(TASKS, start.tolist()))}]
    for step in range(1, steps + 1):
        val = start * (1 - 0.03 * step) + rng.uniform(0, 0.05, 3)
        train = val + rng.uniform(-0.2, 0.2, 3)
        if step % 3 == 0:
            train[1] = np.nan  # task b absent from this step's batch
        before = driver.before_step(step, val if weighting.needs.val_losses else None)
        used = present_weights(torch.as_tensor(weighting.weights), torch.as_tensor(np.isfinite(train), dtype=torch.float64))
        given = TrainSignals(wrong_train(train) if wrong_train else train, rng.uniform(0.5, 1.5, 3))
        after = driver.after_step(step, val if weighting.needs.val_losses else None, given,
                                  remeasure=lambda which: val - 0.01)
        record = {"step": step, **before, **after, "task_loss": dict(zip(TASKS, train.tolist())),
                  "weights": dict(zip(TASKS, used.tolist()))}
        if weighting.needs.val_losses:
            record["controller_valid_loss"] = dict(zip(TASKS, val.tolist()))
        records.append({k: ({t: (None if np.isnan(x) else x) for t, x in v.items()} if isinstance(v, dict) else v)
                        for k, v in record.items()})
    return records


@pytest.mark.parametrize("method, params", METHODS, ids=[m for m, _ in METHODS])
def test_replay_reproduces_a_correctly_wired_run(method, params):
    replayed = replay_weights(method, params, _log(method, params))
    assert len(replayed) == 8
    for step, recomputed, logged in replayed:
        assert recomputed == pytest.approx(logged, abs=1e-12), step
    assert len({tuple(logged) for _, _, logged in replayed}) > 1


@pytest.mark.parametrize("method, params", [("dwa", {"period": 2}), ("uncertainty", {}), ("gradnorm", {"source": "train"})])
def test_replay_catches_a_method_fed_the_wrong_training_losses(method, params):
    log = _log(method, params, wrong_train=lambda train: np.roll(train, 1))  # tasks' losses mixed up
    replayed = replay_weights(method, params, log)
    assert any(recomputed != pytest.approx(logged, abs=1e-12) for _, recomputed, logged in replayed)
