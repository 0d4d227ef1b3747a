"""The per-task stop and its rollback on 2 CPU ranks over gloo: a retirement, the weights and
records after it, and kill -9 + --resume across a retirement and a rollback (the killed run
started by `deepspeed`, whose report of the killed rank is checked; the resumed and the other
runs by torchrun, launch_helpers).

The demo does not overfit in a few steps, so MFT_FAULT_VALID_RISE (mft/faults.py) makes the
`reverse` task's full validation loss rise from step 12 on.
"""
import json
import os
import signal
import time

import pytest
import torch

from launch_helpers import ROOT, pid_of_rank, read_metrics, run_train, shm_buffers, start_train
from weighting_replay import replay_weights

from mft.config import load_config

pytestmark = pytest.mark.distributed

TASKS = ["copy", "addition", "reverse"]
COMMON = ["validation.interval=4", "checkpoint.keep_last=2", "validation.task_patience=2",
          'weighting.params={"history_window": 4, "warmup_steps": 2}']
DROP = ("tokens_per_s", "time_s", "rss_mb")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def reverse_rises(monkeypatch):
    monkeypatch.setenv("MFT_FAULT_VALID_RISE", "2:12")


def _base(out, cache):
    return [f"output_dir={out}", f"data.cache_dir={cache}", "logging.progress_bar=false", "logging.interval=1"]


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in DROP} for r in rows]


def _kill_rank_1_when(out, ready) -> None:
    """SIGKILL the run's rank 1 once `ready()` holds."""
    deadline = time.time() + 400
    while time.time() < deadline and not ready():
        time.sleep(0.2)
    pid = pid_of_rank(1, str(out))
    assert pid is not None, "rank 1 not found"
    os.kill(pid, signal.SIGKILL)


def _metrics_has(out, key):
    path = out / "metrics.jsonl"
    return path.exists() and key in path.read_text()


def _params(out, tag):
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    return get_fp32_state_dict_from_zero_checkpoint(str(out / "checkpoints"), tag=tag)


def _kill_resume_equals_uninterrupted(tmp_path, cache_dir, settings, ready_key, ready_step, max_steps):
    """Kill rank 1 once `ready_key` is in metrics.jsonl and the step-`ready_step` checkpoint exists:
    the launcher fails loudly and leaves no shared memory behind; --resume then ends where the run
    that never stopped ends (the same metrics and parameters)."""
    crashed, full, log = tmp_path / "crashed", tmp_path / "full", tmp_path / "crashed.log"
    buffers = shm_buffers()
    proc = start_train(_base(crashed, cache_dir) + settings, ranks=2, log=str(log))
    ckpt = crashed / "checkpoints" / f"step_{ready_step:06d}"
    _kill_rank_1_when(crashed, lambda: _metrics_has(crashed, ready_key) and ckpt.exists())
    assert proc.wait(timeout=300) != 0
    assert "exits with return code = -9" in log.read_text()
    assert read_metrics(str(crashed))[-1]["step"] < max_steps
    assert shm_buffers() <= buffers  # not even a killed rank leaves its shared memory behind
    run_train(_base(crashed, cache_dir) + settings, ranks=2, resume="latest")
    run_train(_base(full, cache_dir) + settings, ranks=2)
    a, b = read_metrics(str(crashed)), read_metrics(str(full))
    assert _strip(a) == _strip(b)
    with open(crashed / "checkpoints" / "latest") as f:
        tag = f.read().strip()
    pa, pb = _params(crashed, tag), _params(full, tag)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    return b, json.loads((full / "summary.json").read_text())


def test_retirement_and_rollback_kill_9_resume_equals_uninterrupted(tmp_path, cache_dir):
    """reverse's validation loss is made to rise from step 12: it is retired at step 16 (best at 8),
    the run rolls back to step 8 and goes on without it, under a per-task mix (temperature 1: by
    size) that no longer draws it. Rank 1 killed after the rollback, then --resume: the same
    metrics and parameters as the run that never stopped."""
    settings = COMMON + ["training.max_steps=24", "checkpoint.interval=8", "validation.rollback=true",
                         "data.mixing.strategy=temperature", "data.mixing.temperature=1.0"]
    metrics, summary = _kill_resume_equals_uninterrupted(tmp_path, cache_dir, settings, '"rollback_from"', 16, 24)
    steps = [r["step"] for r in metrics]
    back = steps.index(8, steps.index(8) + 1)  # the rollback record repeats step 8
    assert metrics[back] == {"step": 8, "rollback_from": 16, "retired": ["reverse"],
                             "task_active": {"copy": 1.0, "addition": 1.0, "reverse": 0.0}}
    assert steps[back + 1:back + 3] == [9, 10] and steps[-1] == 24
    assert [(e["task"], e["step"], e["best_step"], e["rolled_back_to"]) for e in summary["retired_tasks"]] == [
        ("reverse", 16, 8, 8)]
    after = metrics[back + 1:]
    for r in after:  # the applied weights are logged: reverse trains with 0, the others share 1
        if "weights" in r:
            assert r["weights"]["reverse"] == 0.0 and sum(r["weights"].values()) == pytest.approx(1.0)
            assert min(r["weights"]["copy"], r["weights"]["addition"]) > 0.0
    drawn = [r["task_samples"]["reverse"] for r in after if "task_samples" in r]
    assert len(drawn) > 10 and len(set(drawn)) == 1  # no longer drawn from the rollback on
    assert all(r["task_proportion"]["reverse"] == 0.0 for r in after if "task_proportion" in r)
    # early stopping and best/ count the retired task's loss: the mean ratio is over all tasks
    for r in after:
        if "valid_mean_ratio" in r:
            assert r["valid_mean_ratio"] == pytest.approx(sum(r["valid_loss_ratio"].values()) / 3)
            assert r["task_active"] == {"copy": 1.0, "addition": 1.0, "reverse": 0.0}


def test_rollback_restores_the_exact_parameters_of_the_best_step(tmp_path, cache_dir, monkeypatch):
    """1 process: the checkpoint written right after the rollback to step 8 holds the parameters
    that a run without the fault (so without a retirement) saved at step 8."""
    plain, rolled = tmp_path / "plain", tmp_path / "rolled"
    settings = COMMON + ["training.max_steps=16", "checkpoint.keep_last=10"]
    monkeypatch.delenv("MFT_FAULT_VALID_RISE")
    run_train(_base(plain, cache_dir) + settings + ["checkpoint.interval=8"], ranks=1)
    assert not any("retired" in r for r in read_metrics(str(plain)))
    monkeypatch.setenv("MFT_FAULT_VALID_RISE", "2:12")
    run_train(_base(rolled, cache_dir) + settings + ["checkpoint.interval=0", "validation.rollback=true"], ranks=1)
    assert any(r.get("rollback_from") == 16 for r in read_metrics(str(rolled)))
    assert {"step_000008", "step_000016"} <= set(os.listdir(rolled / "checkpoints"))
    pa, pb = _params(plain, "step_000008"), _params(rolled, "step_000008")
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)
    # early stopping spans both branches: best/ is never worse than any model of the kept branch,
    # and the summary names it; the checkpoint of step 8 is the rolled-back state, reverse retired
    best = json.loads((rolled / "best" / "mft_best.json").read_text())
    kept = [r["valid_mean_ratio"] for r in read_metrics(str(rolled)) if "valid_mean_ratio" in r]
    assert best["valid_mean_ratio"] <= min(kept)
    assert json.loads((rolled / "summary.json").read_text())["best_step"] == best["step"]
    state = json.loads((rolled / "checkpoints" / "step_000008" / "trainer_state.json").read_text())
    assert state["task_retirement"]["retired_step"] == [None, None, 16]


def _uniform_weights(row, factor):
    """Uniform weights over the tasks in the step's batch, reverse's scaled by `factor`, renormalised."""
    raw = {t: (0.0 if row["task_loss"][t] is None else factor if t == "reverse" else 1.0) for t in TASKS}
    return {t: w / sum(raw.values()) for t, w in raw.items()}


def test_recommended_on_2_ranks_rolls_back_then_trains_the_retired_task_at_retired_weight(tmp_path, cache_dir):
    """The `recommended` setting of configs/finetune_cpu.json (uniform weights, the per-task stop,
    rollback, a retired weight) on 2 ranks: reverse is retired at step 16 (best at 8), the run goes
    back to step 8, and from there reverse trains at retired_weight x its uniform weight, the weights
    renormalised (with all three tasks in the batch and 0.25: reverse 0.25/2.25, the others
    1/2.25), and it is still drawn."""
    recommended = load_config(os.path.join(ROOT, "configs", "finetune_cpu.json")).reproduce.overrides["recommended"]
    assert recommended["weighting.method"] == "uniform" and recommended["validation.rollback"] is True
    factor = recommended["validation.retired_weight"]
    assert 0 < factor < 1
    out = tmp_path / "run"
    settings = (COMMON[:-1] + [f"{key}={json.dumps(value)}" for key, value in recommended.items()]
                + ["weighting.params={}", "training.max_steps=28",
                   "data.mixing.strategy=temperature", "data.mixing.temperature=50.0"])
    run_train(_base(out, cache_dir) + settings, ranks=2)
    metrics = read_metrics(str(out))
    back = [i for i, r in enumerate(metrics) if "rollback_from" in r]
    assert len(back) == 1 and metrics[back[0]]["step"] == 8 and metrics[back[0]]["rollback_from"] == 16
    assert metrics[back[0]]["retired"] == ["reverse"] and metrics[-1]["step"] == 28
    before = [r for r in metrics[:back[0]] if "weights" in r]
    after = [r for r in metrics[back[0]:] if "weights" in r]
    assert [r["step"] for r in before] == list(range(1, 9)) and [r["step"] for r in after] == list(range(9, 29))
    for rows, scale in ((before, 1.0), (after, factor)):
        for r in rows:
            assert r["weights"] == pytest.approx(_uniform_weights(r, scale)), r["step"]
    trained = [r for r in after if r["task_loss"]["reverse"] is not None]
    assert len(trained) >= 5  # still drawn, and still trained on, after the rollback
    every = [r for r in trained if all(v is not None for v in r["task_loss"].values())]
    assert every and every[0]["weights"]["reverse"] == pytest.approx(factor / (2 + factor))
    summary = json.loads((out / "summary.json").read_text())
    assert [(e["task"], e["step"], e["best_step"], e["rolled_back_to"]) for e in summary["retired_tasks"]] == [
        ("reverse", 16, 8, 8)]


def test_retired_weight_without_rollback_on_2_ranks_scales_the_method_weights(tmp_path, cache_dir):
    """`uncertainty_hold` of configs/finetune_cpu.json (uncertainty weighting, the per-task stop and
    a retired weight, no rollback) on 2 ranks: reverse is retired at step 16 and the run goes
    straight on to step 24; every step's weights are the method's own (replayed offline from the
    logged losses), with reverse's scaled by the retired weight from step 17 on and the weights
    renormalised, and reverse is still drawn."""
    setting = load_config(os.path.join(ROOT, "configs", "finetune_cpu.json")).reproduce.overrides["uncertainty_hold"]
    assert setting["weighting.method"] == "uncertainty" and not setting.get("validation.rollback")
    factor = setting["validation.retired_weight"]
    out = tmp_path / "run"
    settings = (COMMON[:-1] + [f"{key}={json.dumps(value)}" for key, value in setting.items()]
                + ["weighting.params={}", "training.max_steps=24"])
    run_train(_base(out, cache_dir) + settings, ranks=2)
    metrics = read_metrics(str(out))
    assert not any("rollback_from" in r for r in metrics)
    assert [r["step"] for r in metrics if "retired" in r] == [16] and metrics[-1]["step"] == 24
    by_step = {r["step"]: r for r in metrics if "task_loss" in r}
    # reverse is in the batches on both sides of its retirement, so a factor applied a step early
    # or late changes a logged weight
    assert by_step[16]["task_loss"]["reverse"] is not None and by_step[17]["task_loss"]["reverse"] is not None
    replayed = replay_weights("uncertainty", {}, metrics, retired_weight=factor)
    assert [step for step, _, _ in replayed] == list(range(1, 25))
    for step, recomputed, logged in replayed:
        assert recomputed == pytest.approx(logged, abs=1e-12), f"step {step}: offline {recomputed}, logged {logged}"
    unscaled = replay_weights("uncertainty", {}, metrics)  # the replay without the factor differs after 16
    assert all(a == pytest.approx(b, abs=1e-12) for step, a, b in unscaled if step <= 16)
    assert any(a != pytest.approx(b, abs=1e-6) for step, a, b in unscaled if step > 16)
    after = [r for r in metrics if r["step"] > 16 and "task_loss" in r]
    assert sum(r["task_loss"]["reverse"] is not None for r in after) >= 3  # still drawn and trained
    summary = json.loads((out / "summary.json").read_text())
    assert [(e["task"], e["step"], e["best_step"], "rolled_back_to" in e) for e in summary["retired_tasks"]] == [
        ("reverse", 16, 8, False)]
