"""On one CUDA device: the process group the trainer makes carries its CPU float64 reductions
(an NCCL-only group rejects them, which is what crashed multi-GPU runs), and real training runs
(bf16 ZeRO-2 CoBa, ZeRO-3, LoRA, QLoRA) learn. Each run is a tiny model and a few steps, with the
memory trace on (MFT_MEMORY_TRACE=1): its "model built" record says what the trainer built (ZeRO-3
parameters, 4-bit layers), read from the model, not from the config."""
import dataclasses
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from launch_helpers import DEMO, ROOT, checkout_env, model_built, read_metrics, run_train

HERE = os.path.dirname(os.path.abspath(__file__))
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}


def _base(out, cache):
    return [f"output_dir={out}", f"data.cache_dir={cache}", "logging.progress_bar=false", "logging.interval=1",
            "model.dtype=bf16", "training.max_steps=6", "validation.interval=3"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _memory_trace(monkeypatch):
    monkeypatch.setenv("MFT_MEMORY_TRACE", "1")


def _check_learned(out, *, full: bool = True) -> None:
    """Training lowered the loss: the full validation set's mean ratio to the initial losses fell
    (the same data each time: a model that did not change stays at 1.0) and,
    when every weight trains, the training loss fell from the first step to the last."""
    metrics = read_metrics(str(out))
    losses = [r["loss"] for r in metrics if "loss" in r]
    valid = [r["valid_mean_ratio"] for r in metrics if "valid_mean_ratio" in r]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert len(valid) == 3 and valid[0] == 1.0 > valid[-1], valid
    if full:  # a few LoRA steps move the loss less than batch-to-batch differences
        assert losses[-1] < losses[0], losses


def test_host_reductions_under_nccl_at_world_size_one():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "DS_ACCELERATOR")}
    proc = subprocess.run([sys.executable, os.path.join(HERE, "nccl_collectives.py")], cwd=ROOT, env=checkout_env(env),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "default group: CPU float64 and CUDA all-reduces ok" in proc.stdout
    assert "nccl-only group rejects CPU tensors" in proc.stdout


def test_zero2_bf16_coba_learns(tmp_path, cache_dir):
    out = tmp_path / "run"
    run_train(_base(out, cache_dir) + ["deepspeed=configs/deepspeed/zero2_bf16.json"], ranks=1, gpu=True)
    _check_learned(out)
    built = model_built(str(out))[0]
    assert built["param_dtypes"] == ["bfloat16"] and built["zero3_params"] == 0


def test_zero3_parameters_are_partitioned(tmp_path, cache_dir):
    """zero.Init built every parameter as a ZeRO-3 partition (on one GPU the partition is whole)."""
    from transformers import AutoModelForCausalLM
    out = tmp_path / "run"
    run_train(_base(out, cache_dir) + ["deepspeed=configs/deepspeed/zero3_bf16.json"], ranks=1, gpu=True)
    _check_learned(out)
    built = model_built(str(out))[0]
    assert built["zero3_params"] == built["parameters"] > 0
    assert built["params_held"] == built["params_total"]  # world size 1
    exported = AutoModelForCausalLM.from_pretrained(out / "best")  # gathered from the partitions
    assert sum(p.numel() for p in exported.parameters()) == built["params_total"]


def _base_model(best, dtype: str):
    """The frozen base the LoRA run started from: the demo's tiny model, rebuilt from the seed."""
    from data_pipeline import load_tokenizer
    from mft.config import load_config
    from mft.model import build_model
    cfg = load_config(DEMO)
    return build_model(dataclasses.replace(cfg.model, dtype=dtype), load_tokenizer(str(best)), seed=cfg.training.seed)


def test_lora_adapters_train_and_the_merged_best_differs_from_the_base(tmp_path, cache_dir):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM
    out = tmp_path / "run"
    run_train(_base(out, cache_dir) + ["deepspeed=configs/deepspeed/zero2_bf16.json", f"model.lora={json.dumps(LORA)}"],
              ranks=1, gpu=True)
    _check_learned(out, full=False)
    adapter = load_file(str(out / "best" / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and all(v.float().abs().max() > 0 for v in lora_b)  # B starts at zero: every adapter trained
    merged = AutoModelForCausalLM.from_pretrained(out / "best").state_dict()
    assert not any("lora" in n for n in merged)
    base = _base_model(out / "best", "bf16").state_dict()
    changed = {n for n, v in base.items() if not torch.equal(v.cpu(), merged[n].to(v.dtype))}
    targeted = {n for n in base if n.endswith(".weight") and "proj" in n}  # all-linear: attention and MLP
    assert changed and changed <= targeted, changed - targeted  # the adapters moved the linear layers, only them


def test_qlora_base_layers_are_4bit(tmp_path, cache_dir):
    """A pretrained folder (the demo's tiny model, saved) trained as NF4 base + LoRA; best/ merged in bf16."""
    pytest.importorskip("bitsandbytes")
    from transformers import AutoModelForCausalLM
    first = tmp_path / "first"
    run_train(_base(first, cache_dir) + ["deepspeed=configs/deepspeed/zero2_bf16.json"], ranks=1, gpu=True)
    out = tmp_path / "qlora"
    run_train(_base(out, cache_dir) + ["deepspeed=configs/deepspeed/zero2_bf16.json", "model.tiny=null",
                                       "model.tokenizer_train_vocab=0", f"model.path={first / 'best'}",
                                       "model.quantization=4bit", f"model.lora={json.dumps(LORA)}"],
              ranks=1, gpu=True)
    _check_learned(out, full=False)
    base = AutoModelForCausalLM.from_pretrained(first / "best")
    linear = [n for n, m in base.named_modules() if isinstance(m, torch.nn.Linear) and "lm_head" not in n]
    built = model_built(str(out))[0]
    assert built["params_4bit"] == len(linear) > 0  # every linear layer of the base, packed 4-bit
    assert "uint8" in built["param_dtypes"]  # bitsandbytes stores two 4-bit values per byte
    model = AutoModelForCausalLM.from_pretrained(out / "best")
    assert str(model.dtype) == "torch.bfloat16"
    assert (out / "best" / "adapter" / "adapter_config.json").exists()
