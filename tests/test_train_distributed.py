"""End-to-end training on 2 CPU ranks over gloo: the demo through `deepspeed --num_gpus 2`, as
the README runs it, and the other runs through torchrun (the same ranks, started faster; see
launch_helpers).

Each run is small (a few steps of the demo's tiny model); together they cost a few minutes,
most of it start-up.
"""
import json
import os
import shutil

import pytest
import torch

from launch_helpers import DEMO, final_params, model_built, read_metrics, run_train, shm_buffers
from mft.config import load_config
from weighting_replay import replay_weights

pytestmark = pytest.mark.distributed

BF16_REL = 0.005


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def _base(out, cache):
    return [f"output_dir={out}", f"data.cache_dir={cache}", "logging.progress_bar=false", "logging.interval=1"]


@pytest.mark.parametrize("weighting", [  # uniform weights are the static case with equal weights
    ["weighting.method=static", 'weighting.params={"weights": [0.6, 0.3, 0.1]}'],
    ["weighting.method=uniform", "weighting.params={}", "data.group_by_length=true"],
    ["weighting.method=uniform", "weighting.params={}", "data.mixing.strategy=unimax", "data.mixing.max_epochs=2"],
    ["weighting.method=static", 'weighting.params={"weights": [0.6, 0.3, 0.1]}', "weighting.apply=sampling"],
], ids=["static", "uniform_group_by_length", "unimax", "static_as_sampling"])
def test_one_process_equals_two_ranks_with_accumulation(tmp_path, cache_dir, weighting):
    """Same data and seed: 1 process x micro-batch 4 and 2 ranks x micro-batch 1 x accumulation 2
    see the same global batch (also when grouped by length); exact per-task averaging makes the
    parameters agree, though dynamic padding pads the two geometries' micro-batches differently."""
    common = weighting + ["training.max_steps=3", "validation.interval=1000", "checkpoint.interval=0",
                          "data.mode=padding", "data.seq_length=64"]
    one, two = tmp_path / "one", tmp_path / "two"
    run_train(_base(one, cache_dir) + common + ["training.micro_batch_size=4", "training.grad_accum=1"], ranks=1)
    run_train(_base(two, cache_dir) + common + ["training.micro_batch_size=1", "training.grad_accum=2"], ranks=2)
    p1, p2 = final_params(str(one)), final_params(str(two))
    assert p1.keys() == p2.keys()
    m1, m2 = read_metrics(str(one)), read_metrics(str(two))
    train1 = [r for r in m1 if "loss" in r]
    train2 = [r for r in m2 if "loss" in r]
    assert [r["step"] for r in train1] == [1, 2, 3]
    for a, b in zip(train1, train2):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        # Adam is nearly blind to a constant gradient scale: the norm is what shows a wrong one
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-5)
        assert a["weights"] == pytest.approx(b["weights"], abs=1e-12)
    assert train1[0]["loss"] != pytest.approx(train1[-1]["loss"], abs=1e-4)  # training moved the model
    worst = max((p1[k].float() - p2[k].float()).abs().max().item() for k in p1)
    assert worst < 1e-5, f"parameters differ by {worst}"


def _check_replicated_weights(metrics, tasks):
    updates = [r for r in metrics if "weights_rank_spread" in r]
    assert updates, "no controller updates logged"
    assert all(r["weights_rank_spread"] == 0.0 for r in updates)
    for r in metrics:
        if "weights" in r:
            assert set(r["weights"]) == set(tasks)
            assert sum(r["weights"].values()) == pytest.approx(1.0)


def test_demo_run_zero2_coba(tmp_path, cache_dir):
    """The demo config itself on 2 ranks (shortened): metrics, TensorBoard, best/ and a summary."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "demo"
    buffers = shm_buffers()
    proc = run_train(_base(out, cache_dir) + ["training.max_steps=60", "validation.interval=20"], ranks=2,
                     launcher="deepspeed")
    assert shm_buffers() <= buffers  # 69 MB of RAM per rank would stay behind until reboot
    metrics = read_metrics(str(out))
    tasks = ["copy", "addition", "reverse"]
    _check_replicated_weights(metrics, tasks)
    steps = [r["step"] for r in metrics if "loss" in r]
    assert steps == list(range(1, 61))
    valid = [r for r in metrics if "valid_loss" in r]
    assert [r["step"] for r in valid] == [0, 20, 40, 60]
    # CoBa moves the weights away from uniform after its warm-up
    last = metrics[-1]
    assert max(last["weights"].values()) - min(last["weights"].values()) > 1e-3
    assert {"weighting_rcs", "weighting_acs", "weighting_df"} <= set(last)
    _check_replayed_weights("coba", load_config(DEMO).weighting.params, metrics, steps=60)
    assert valid[-1]["valid_mean_ratio"] < 1.0  # it learned something
    assert os.listdir(out / "tensorboard")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_step"] in (20, 40, 60)
    assert proc.stderr.count("best step") == 1 and "best model" in proc.stderr  # rank 0 logs, once
    model = AutoModelForCausalLM.from_pretrained(out / "best")
    tok = AutoTokenizer.from_pretrained(out / "best")
    ids = tok("copy abc", return_tensors="pt").input_ids
    assert model(ids).logits.shape[-1] == model.config.vocab_size


def test_zero3_run_replicates_weights_and_exports_best(tmp_path, cache_dir):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "z3"
    # live-parameter and prefetch limits below the model's size: layers are fetched and released as it runs
    lean = {"zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True,
                                  "stage3_max_live_parameters": 30000, "stage3_prefetch_bucket_size": 30000,
                                  "stage3_param_persistence_threshold": 10000}}
    run_train(_base(out, cache_dir) + [f"deepspeed={json.dumps(lean)}", "training.max_steps=12",
                                       "validation.interval=6", "checkpoint.interval=6", "checkpoint.keep_last=2",
                                       'weighting.params={"history_window": 4, "warmup_steps": 2}'],
              ranks=2)
    metrics = read_metrics(str(out))
    _check_replicated_weights(metrics, ["copy", "addition", "reverse"])
    assert (out / "best" / "config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out / "best")
    # the exported weights are the gathered ZeRO-3 shards of the best step's model, whichever step it was
    best_step = json.loads((out / "best" / "mft_best.json").read_text())["step"]
    assert best_step in (6, 12)
    params = final_params(str(out), tag=f"step_{best_step:06d}")
    exported = model.state_dict()
    assert params and set(params) <= set(exported), set(params) - set(exported)
    for name, value in params.items():
        assert torch.allclose(exported[name], value.float(), atol=1e-6), name


@pytest.mark.parametrize("mixing", [["data.mixing.strategy=temperature", "data.mixing.temperature=4"],
                                    ["weighting.apply=sampling"]], ids=["temperature", "sampling"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, cache_dir, mixing):
    """Stop after the checkpoint at step 4 (simulated by deleting what came after), resume, and
    compare metrics, weights and parameters with the run that never stopped (a killed rank's resume:
    tests/test_task_retirement_distributed.py; the default sampler's: tests/test_two_nodes.py). With temperature 4
    the small task (reverse, 9 packed rows) is in its second pass at step 4; with CoBa's weights as the
    proportions they change every step."""
    full = tmp_path / "full"
    common = ["training.max_steps=8", "checkpoint.interval=4", "checkpoint.keep_last=3", "validation.interval=3",
              'weighting.params={"history_window": 4, "warmup_steps": 2}'] + mixing
    run_train(_base(full, cache_dir) + common, ranks=2)
    part = tmp_path / "part"
    shutil.copytree(full, part)
    shutil.rmtree(part / "checkpoints" / "step_000008")
    shutil.rmtree(part / "best")
    (part / "checkpoints" / "latest").write_text("step_000004")
    run_train(_base(part, cache_dir) + common, ranks=2, resume="latest")
    a, b = read_metrics(str(full)), read_metrics(str(part))
    drop = ("tokens_per_s", "time_s", "rss_mb")
    assert [{k: v for k, v in r.items() if k not in drop} for r in a] == \
           [{k: v for k, v in r.items() if k not in drop} for r in b]
    pa, pb = final_params(str(full)), final_params(str(part))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    state_a = json.loads((full / "checkpoints" / "step_000008" / "trainer_state.json").read_text())
    state_b = json.loads((part / "checkpoints" / "step_000008" / "trainer_state.json").read_text())
    assert state_a["weighting"] == state_b["weighting"]
    assert state_a["sampler"] == state_b["sampler"]
    # the per-task cursors, the proportions and what was seen are in the checkpoint
    middle = json.loads((full / "checkpoints" / "step_000004" / "trainer_state.json").read_text())["sampler"]
    assert middle["kind"] == "mixture" and middle["step"] == 4
    if "temperature" in mixing[0]:
        assert middle["cursors"][2] % middle["task_rows"][2] != 0  # mid-pass over reverse's rows
    assert list(a[-1]["task_samples"].values()) == state_a["sampler"]["task_samples"]


def test_bf16_with_gradient_checkpointing_one_process(tmp_path, cache_dir, monkeypatch):
    """bf16 with gradient checkpointing (on in the built model, as the memory trace shows) follows
    the fp32 run without it: the same data and seed, losses within 0.5%."""
    monkeypatch.setenv("MFT_MEMORY_TRACE", "1")
    common = ["deepspeed=configs/deepspeed/zero1.json", "training.max_steps=6", "validation.interval=3"]
    runs = {"bf16": ["model.dtype=bf16", "model.gradient_checkpointing=true"], "fp32": []}
    losses = {}
    for name, options in runs.items():
        out = tmp_path / name
        run_train(_base(out, cache_dir) + options + common, ranks=1)
        built = model_built(str(out))[0]
        assert built["gradient_checkpointing"] is (name == "bf16")
        assert built["param_dtypes"] == ["bfloat16" if name == "bf16" else "float32"]
        metrics = read_metrics(str(out))
        losses[name] = [r["loss"] for r in metrics if "loss" in r]
        valid = [r["valid_mean_ratio"] for r in metrics if "valid_mean_ratio" in r]
        assert valid[-1] < valid[0] == 1.0
    assert len(losses["bf16"]) == 6
    # bf16 rounds to 8 significant bits (relative error up to 2^-8 = 0.4%); six steps differed from
    # fp32 by 0.04% here, a twelfth of the tolerance, which is a third of what the steps move the loss
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=BF16_REL)
    assert losses["fp32"][0] - losses["fp32"][-1] > 3 * BF16_REL * losses["fp32"][0]


def test_early_stopping_on_the_mean_validation_ratio(tmp_path, cache_dir):
    """min_delta so large that only the first validation improves: patience 2 stops at the third."""
    out = tmp_path / "early"
    run_train(_base(out, cache_dir) + ["training.max_steps=50", "validation.interval=2", "validation.patience=2",
                                       "validation.min_delta=100", "checkpoint.interval=0"], ranks=1)
    metrics = read_metrics(str(out))
    assert metrics[-1]["step"] == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_early"] and summary["best_step"] == 2 and summary["steps"] == 6
    assert (out / "checkpoints" / "step_000006").exists()


def test_stl_runs_one_training_per_task(tmp_path, cache_dir):
    out = tmp_path / "stl"
    run_train(_base(out, cache_dir) + ["training.max_steps=2", "validation.interval=2", "weighting.method=uniform",
                                       "weighting.params={}"], ranks=1, extra=("--stl",))
    for task in ("copy", "addition", "reverse"):
        metrics = read_metrics(str(out / "stl" / task))
        assert all(set(r["task_loss"]) == {task} for r in metrics if "task_loss" in r)
        assert (out / "stl" / task / "best" / "config.json").exists()


@pytest.mark.parametrize("method, params", [  # LBTW's and GradNorm's sources share one switch (weighting/common.py):
    ("lbtw", {"source": "train"}), ("gradnorm", {"source": "valid"}),  # one each; FAMO's differ in more
    ("famo", {"source": "train"}), ("famo", {"source": "valid"}),
    ("dwa", {"period": 2}), ("uncertainty", {}), ("random", {"seed": 3}),
], ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v.values())))
def test_every_baseline_on_two_ranks(tmp_path, cache_dir, method, params):
    """Each method on the demo, 2 ranks: replicas agree on the weights at every update, weights
    move, and every step's weights are what the method computes offline from the logged signals."""
    out = tmp_path / method
    run_train(_base(out, cache_dir) + [f"weighting.method={method}", f"weighting.params={json.dumps(params)}",
                                       "training.max_steps=6", "validation.interval=1000", "checkpoint.interval=0",
                                       "data.mode=padding", "data.seq_length=48"], ranks=2)
    metrics = read_metrics(str(out))
    _check_replicated_weights(metrics, ["copy", "addition", "reverse"])
    weights = [tuple(r["weights"].values()) for r in metrics if "weights" in r]
    assert len(set(weights)) > 1, "the weights never moved"
    _check_replayed_weights(method, params, metrics, steps=6)


def _check_replayed_weights(method, params, metrics, *, steps):
    replayed = replay_weights(method, params, metrics)
    assert [step for step, _, _ in replayed] == list(range(1, steps + 1))
    for step, recomputed, logged in replayed:
        assert recomputed == pytest.approx(logged, abs=1e-12), f"step {step}: offline {recomputed}, logged {logged}"


def test_nan_loss_skips_the_step_on_both_ranks_and_nan_validation_skips_the_controller(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("MFT_FAULT_NAN_LOSS", "3")
    monkeypatch.setenv("MFT_FAULT_NAN_VALID", "4")
    out = tmp_path / "nan"
    run_train(_base(out, cache_dir) + ["training.max_steps=6", "validation.interval=6",
                                       'weighting.params={"history_window": 4, "warmup_steps": 1}'], ranks=2)
    metrics = {r["step"]: r for r in read_metrics(str(out)) if r["step"] > 0}
    assert metrics[3].get("skipped_step") is True and metrics[3]["loss"] is None
    assert all(not metrics[s].get("skipped_step") for s in (1, 2, 4, 5, 6))
    assert metrics[4].get("controller_skipped") is True and "weighting_rcs" not in metrics[4]
    assert metrics[5]["weights_rank_spread"] == 0.0
    params = final_params(str(out))
    assert all(torch.isfinite(v).all() for v in params.values())
    state = json.loads((out / "checkpoints" / "step_000006" / "trainer_state.json").read_text())
    assert state["nonfinite"] == {"in_a_row": 0, "total": 1}


def test_too_many_nonfinite_steps_in_a_row_stop_with_a_message(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("MFT_FAULT_NAN_LOSS", "2,3")
    proc = run_train(_base(tmp_path / "diverged", cache_dir) + ["training.max_steps=6", "training.max_nonfinite_steps=2"],
                     ranks=1, check=False)
    assert proc.returncode == 2
    assert "step 3: 2 steps in a row had a non-finite training loss" in proc.stderr
