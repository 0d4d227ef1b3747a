"""data.mixing and weighting.apply in a run config: every bad input is one line naming its key,
when the config loads (or, for what depends on the data, when the trainer builds its sampler,
before the first step); TaskMix builds the samplers and loss weights the config asks for."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from data_pipeline import GlobalBatchSampler, MultiTaskData, TokenizedSplit, plan_rows
from mft import losses
from mft.config import load_config
from mft.config_loader import ConfigError
from mft.task_mix import TaskMix, mix_table, read_run_mix

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINETUNE = os.path.join(ROOT, "configs", "finetune_cpu.json")
FIXED = ["data.mixing.strategy=fixed"] + [f"data.tasks.{i}.weight={w}" for i, w in enumerate([4, 2, 1, 1])]


@pytest.mark.parametrize("overrides, message", [
    (["data.mixing.strategy=fixed"], "data.tasks[0].weight: data.mixing.strategy 'fixed' needs a weight > 0 for task 'copy'"),
    (FIXED + ["data.tasks.2.weight=0"], "data.tasks[2].weight: must be a finite number > 0, got 0.0 (task 'addition')"),
    (FIXED + ["data.tasks.1.weight=-1"], "data.tasks[1].weight: must be a finite number > 0, got -1.0"),
    (FIXED + ["data.tasks.3.weight=NaN"], "data.tasks[3].weight: must be a finite number > 0, got nan"),
    (["data.tasks.1.weight=2"], "data.tasks[1].weight: only used with data.mixing.strategy 'fixed' (now 'proportional')"),
    (["data.mixing.strategy=temperature"], "data.mixing.temperature: strategy 'temperature' needs it; set a number > 0"),
    (["data.mixing.strategy=temperature", "data.mixing.temperature=0"], "data.mixing.temperature: must be a number > 0, got 0.0"),
    (["data.mixing.strategy=temperature", "data.mixing.temperature=-2"], "data.mixing.temperature: must be a number > 0"),
    (["data.mixing.temperature=2"], "data.mixing.temperature: only used with strategy 'temperature' (now 'proportional')"),
    (["data.mixing.strategy=unimax", "data.mixing.max_epochs=0.5"], "data.mixing.max_epochs: must be a number >= 1"),
    (["data.mixing.strategy=unimax"], "data.mixing.max_epochs: strategy 'unimax' needs it"),
    (["data.mixing.strategy=unimax", "data.mixing.max_epochs=2", "training.max_steps=0", "training.epochs=2"],
     "training.epochs: data.mixing.strategy 'unimax' shares a budget of training.max_steps steps"),
    (["data.mixing.strategy=uniform"], "data.mixing.strategy: 'uniform' is not one of proportional, fixed, temperature, unimax"),
    (["weighting.apply=sampling", "data.mixing.strategy=temperature", "data.mixing.temperature=2"],
     "weighting.apply: 'sampling' lets weighting.method set the task proportions, and so does data.mixing.strategy 'temperature'"),
    (["weighting.apply=samples"], "weighting.apply: 'samples' is not one of loss, sampling; did you mean 'sampling'?"),
    (["data.mixing.strategy=unimax", "data.mixing.max_epochs=2", "data.group_by_length=true"],
     "data.group_by_length: works with data.mixing.strategy 'proportional' only"),
    (["weighting.apply=sampling", "data.group_by_length=true"], "data.group_by_length: works with proportional mixing only"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_mixing_input_is_one_line_naming_the_key_at_load_time(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(FINETUNE, overrides)
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text


def fake_data(sizes: list[int], length: int = 100) -> MultiTaskData:
    """Tasks of `sizes` samples of `length` tokens (names of finetune_cpu.json's tasks); 100 tokens: one per packed row."""
    tasks = np.repeat(np.arange(len(sizes)), sizes)
    split = TokenizedSplit.from_samples([(np.arange(length, dtype=np.int32), np.ones(length, dtype=np.uint8))
                                         for _ in tasks], tasks, num_tasks=len(sizes))
    return MultiTaskData(["copy", "sort", "addition", "reverse"][:len(sizes)], split, split, {}, from_cache=True)


def mix(overrides: list[str], sizes=(600, 600, 1500, 120), world=2) -> TaskMix:
    cfg = load_config(FINETUNE, ["training.micro_batch_size=4"] + overrides)
    return TaskMix(cfg, fake_data(list(sizes)), world_size=world, rank=0)


@pytest.mark.parametrize("overrides, key", [
    (["data.mixing.strategy=fixed", "data.tasks.0.weight=1", "data.tasks.1.weight=1", "data.tasks.2.weight=1",
      "data.tasks.3.weight=1e-6"], "data.tasks[3].weight: task 'reverse' gets 0.00 of the run's 2400 slots"),
    (["data.mixing.strategy=temperature", "data.mixing.temperature=0.01"], "data.mixing.temperature: task 'copy' gets 0.00"),
    (["data.mixing.strategy=unimax", "data.mixing.max_epochs=1", "training.max_steps=400"],
     "training.max_steps: a budget of 3200 slots is more than max_epochs (1) passes over all 2820 slots"),
])
def test_a_share_that_cannot_be_met_is_one_line_naming_the_key_before_training(overrides, key):
    with pytest.raises(ConfigError) as err:
        mix(overrides)
    assert str(err.value).startswith(key) and "\n" not in str(err.value), str(err.value)


def test_strategies_build_their_proportions_from_the_data():
    assert mix(FIXED).sampler.proportions.tolist() == [0.5, 0.25, 0.125, 0.125]
    t = mix(["data.mixing.strategy=temperature", "data.mixing.temperature=2"]).sampler.proportions
    assert t == pytest.approx(np.sqrt([600, 600, 1500, 120]) / np.sqrt([600, 600, 1500, 120]).sum())
    # 300 steps x 8 slots = 2400; uniform share 600; reverse capped at 2 x 120 = 240, the rest share 2160
    u = mix(["data.mixing.strategy=unimax", "data.mixing.max_epochs=2"])
    assert (u.sampler.proportions * 2400).tolist() == pytest.approx([720, 720, 720, 240])
    assert u.total_steps == 300 and u.label == "unimax"


def test_proportional_builds_todays_sampler_and_order():
    m = mix([], world=1)
    cfg = load_config(FINETUNE, ["training.micro_batch_size=4"])
    data = fake_data([600, 600, 1500, 120])
    rows = plan_rows(data.train, "pack", 128, cfg.training.seed)
    today = GlobalBatchSampler(len(rows), world_size=1, rank=0, micro_batch_size=4, grad_accum=1, seed=42,
                               drop_last=False)
    assert m.rows == rows
    assert [m.sampler.next_step() for _ in range(250)] == [today.next_step() for _ in range(250)]


def test_apply_sampling_sets_proportions_from_the_weights_and_averages_tokens():
    m = mix(["weighting.apply=sampling"])
    tokens = np.array([30.0, 0.0, 10.0, 60.0])
    assert m.loss_weights([0.7, 0.1, 0.1, 0.1], tokens).tolist() == tokens.tolist()
    sums = torch.tensor([6.0, 0.0, 5.0, 9.0], dtype=torch.float64)  # the tasks' token-loss sums
    loss = losses.weighted_loss(sums, torch.as_tensor(tokens), torch.as_tensor(m.loss_weights([0.7, 0.1, 0.1, 0.1], tokens)))
    assert float(loss) == pytest.approx(20.0 / 100.0)  # the plain token average: all sums / all tokens
    m.before_batch(1, np.array([0.4, 0.3, 0.3, 0.0]))
    assert m.sampler.proportions.tolist() == [0.4, 0.3, 0.3, 0.0]
    m.sampler.next_step()
    stats = m.stats()
    assert stats["task_proportion"]["reverse"] == 0.0 and stats["task_samples"]["reverse"] == 0
    assert sum(stats["task_samples"].values()) > 0
    assert m.summary()["strategy"] == "sampling"
    loss = mix([])
    assert loss.loss_weights([0.7, 0.1, 0.1, 0.1], tokens).tolist() == [0.7, 0.1, 0.1, 0.1]
    loss.before_batch(1, np.array([0.4, 0.3, 0.3, 0.0]))  # apply "loss": the weights leave the mix alone
    assert loss.sampler.proportions == pytest.approx(np.array([600, 600, 1500, 120]) / 2820)


def test_the_realised_mix_reaches_the_summary_and_the_report_table(tmp_path):
    m = mix(FIXED, world=1)
    for _ in range(100):
        m.sampler.next_step()
    summary = m.summary()
    assert summary["strategy"] == "fixed"
    assert list(summary["realised_proportion"].values()) == pytest.approx([0.5, 0.25, 0.125, 0.125], abs=0.01)
    assert summary["task_samples"]["copy"] == m.sampler.cursors[0]  # one sample per row here
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text(json.dumps({"steps": 100, "mix": summary}))
    assert read_run_mix(str(tmp_path / "run")) == summary
    assert read_run_mix(str(tmp_path / "missing")) is None
    table = mix_table({"uniform": read_run_mix(str(tmp_path / "run"))}).splitlines()
    assert table[0] == "| run | mix | copy | sort | addition | reverse |"
    r = summary["realised_proportion"]["copy"]
    assert table[2].startswith(f"| uniform | fixed | {r:.3f} ({summary['task_epochs']['copy']:.2f} ep) |")
