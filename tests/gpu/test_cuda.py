"""On one CUDA device: the process group the trainer makes carries its CPU float64 reductions
(an NCCL-only group rejects them, which is what crashed multi-GPU runs), and real training runs
(bf16 ZeRO-2 CoBa, ZeRO-3, LoRA, QLoRA) finish. Each run is a tiny model and a few steps."""
import json
import os
import subprocess
import sys

import pytest

from launch_helpers import ROOT, checkout_env, read_metrics, run_train

HERE = os.path.dirname(os.path.abspath(__file__))
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}


def _base(out, cache):
    return [f"output_dir={out}", f"data.cache_dir={cache}", "logging.progress_bar=false", "logging.interval=1",
            "model.dtype=bf16", "training.max_steps=6", "validation.interval=3"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def test_host_reductions_under_nccl_at_world_size_one():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "DS_ACCELERATOR")}
    proc = subprocess.run([sys.executable, os.path.join(HERE, "nccl_collectives.py")], cwd=ROOT, env=checkout_env(env),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "default group: CPU float64 and CUDA all-reduces ok" in proc.stdout
    assert "nccl-only group rejects CPU tensors" in proc.stdout


@pytest.mark.parametrize("extra", [
    ["deepspeed=configs/deepspeed/zero2_bf16.json"],
    ["deepspeed=configs/deepspeed/zero3_bf16.json"],
    ["deepspeed=configs/deepspeed/zero2_bf16.json", f"model.lora={json.dumps(LORA)}"],
], ids=["zero2", "zero3", "lora"])
def test_training_on_cuda(tmp_path, cache_dir, extra):
    from transformers import AutoModelForCausalLM
    out = tmp_path / "run"
    run_train(_base(out, cache_dir) + extra, ranks=1, gpu=True)
    losses = [r["loss"] for r in read_metrics(str(out)) if "loss" in r]
    assert len(losses) == 6 and all(0 < x < 10 for x in losses)
    model = AutoModelForCausalLM.from_pretrained(out / "best")
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_qlora_on_cuda(tmp_path, cache_dir):
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
    losses = [r["loss"] for r in read_metrics(str(out)) if "loss" in r]
    assert len(losses) == 6 and all(0 < x < 10 for x in losses)
    model = AutoModelForCausalLM.from_pretrained(out / "best")
    assert str(model.dtype) == "torch.bfloat16"
    assert (out / "best" / "adapter" / "adapter_config.json").exists()
