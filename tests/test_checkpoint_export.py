"""Saved training steps become Hugging Face folders (launch/export.py), after ZeRO-3 on 2 ranks too,
and evaluate.py --checkpoints <output_dir> scores best/ and every saved step."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from launch_helpers import ROOT, checkout_env, run_train
from test_eval_cli import evaluate, last_json

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def zero3_run(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("z3run")
    run_train([f"output_dir={out}", f"data.cache_dir={out}/cache", "logging.progress_bar=false",
               "deepspeed=configs/deepspeed/zero3.json", "training.max_steps=4", "validation.interval=2",
               "checkpoint.interval=2", "checkpoint.keep_last=2", "logging.tensorboard=false",
               'weighting.params={"history_window": 4, "warmup_steps": 2}'], ranks=2)
    return str(out)


def export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"{ROOT}/launch/export.py", *args], capture_output=True, text=True,
                          timeout=300, env=checkout_env())


def test_a_zero3_step_exports_to_the_weights_training_exported(zero3_run, tmp_path):
    best_step = json.loads(open(f"{zero3_run}/best/mft_best.json").read())["step"]
    result = export("--checkpoint", f"{zero3_run}/checkpoints/step_{best_step:06d}", "--out", str(tmp_path / "exp"))
    assert result.returncode == 0, result.stderr[-2000:]
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "exp").state_dict()
    trained = AutoModelForCausalLM.from_pretrained(f"{zero3_run}/best").state_dict()  # gathered by the trainer
    assert exported.keys() == trained.keys()
    assert all(torch.equal(exported[k], trained[k]) for k in trained)
    assert load_file(tmp_path / "exp" / "model.safetensors")["model.embed_tokens.weight"].dtype == torch.float32
    assert json.loads((tmp_path / "exp" / "mft_step.json").read_text())["step"] == best_step
    assert (tmp_path / "exp" / "prompt_format.json").read_text() == open(f"{zero3_run}/best/prompt_format.json").read()
    assert (tmp_path / "exp" / "tokenizer_config.json").is_file()


def test_export_errors_name_the_fix(zero3_run, tmp_path):
    result = export("--checkpoint", str(tmp_path), "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "not an mft checkpoint" in result.stderr
    result = export("--checkpoint", f"{zero3_run}/checkpoints/step_000004", "--out", str(tmp_path / "x"),
                    "--model-files", str(tmp_path))
    assert result.returncode == 2 and "--model-files" in result.stderr


def test_evaluate_scores_every_saved_step(zero3_run, tmp_path):
    test_file = f"{ROOT}/configs/demo_data/copy.test.jsonl"
    out = tmp_path / "out"
    summary = last_json(evaluate("--checkpoints", zero3_run, "--task-file", f"copy={test_file}", "--metric", "ppl",
                                 "--device", "cpu", "--out", str(out)))
    assert set(summary) == {"best", "step_000002", "step_000004"}
    best_step = json.loads(open(f"{zero3_run}/best/mft_best.json").read())["step"]
    assert summary[f"step_{best_step:06d}"] == summary["best"]
    assert summary["step_000002"] != summary["step_000004"]
    assert (out / "exported" / "step_000002" / "mft_step.json").is_file()
