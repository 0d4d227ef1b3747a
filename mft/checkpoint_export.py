"""A saved training step (DeepSpeed engine state, any ZeRO stage) as a Hugging Face model folder.

    export_checkpoint("runs/x/checkpoints/step_000500", "exported/step_000500")

A step folder holds DeepSpeed's engine state and the trainer's state only (mft/checkpoint.py).
What a model folder needs besides the weights (config.json, the tokenizer, the prompt-format
record) is taken from, in order: `model_files` (the base model's folder, say), the step folder
itself when it holds a config.json, or the run's `best/`, which the trainer exports at its first
validation (the architecture and the tokenizer do not change during a run).

The weights are the fp32 master weights, read from every rank's shards on CPU by DeepSpeed's
zero_to_fp32 helpers (ZeRO-2 and ZeRO-3 alike), written in the training dtype (the dtype in
config.json: bf16 for a bf16 run).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from data_pipeline import load_tokenizer
from data_pipeline.prompt_format import FILE as PROMPT_FORMAT_FILE

STEP_FILE = "mft_step.json"


class ExportError(RuntimeError):
    """A checkpoint cannot be exported; the message says which file is missing and what to pass."""


def is_training_state(path: str | Path) -> bool:
    """A step folder written by mft's Checkpointer."""
    return (Path(path) / "trainer_state.json").is_file()


def model_files_for(step_dir: Path) -> Path:
    """The step folder when it holds config.json, else `<output_dir>/best` of the run that saved it
    (<output_dir>/checkpoints/step_N)."""
    if (step_dir / "config.json").is_file():
        return step_dir
    return step_dir.resolve().parent.parent / "best"


def export_checkpoint(step_dir: str | Path, out_dir: str | Path, *, model_files: str | Path | None = None) -> Path:
    """Write the model of `step_dir` to `out_dir` (replaced atomically); returns `out_dir`."""
    import torch
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    from transformers import AutoConfig, AutoModelForCausalLM

    step_dir, out_dir = Path(step_dir), Path(out_dir)
    if not is_training_state(step_dir):
        raise ExportError(f"{step_dir} is not an mft checkpoint (no trainer_state.json); "
                          "give a folder like <output_dir>/checkpoints/step_000500")
    files = Path(model_files) if model_files else model_files_for(step_dir)
    if not (files / "config.json").is_file():
        raise ExportError(f"{files} holds no config.json (the run's best/ appears at its first validation); "
                          "pass --model-files DIR, a folder with the model's config.json and tokenizer")
    config = AutoConfig.from_pretrained(files)
    state = get_fp32_state_dict_from_zero_checkpoint(str(step_dir.parent), tag=step_dir.name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = ({n for n, _ in model.named_parameters(remove_duplicate=False)} - {n for n, _ in model.named_parameters()})
    if unexpected or set(missing) - tied:
        raise ExportError(f"{step_dir} does not match the architecture in {files}/config.json "
                          f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]})")
    dtype = getattr(config, "dtype", None) or torch.float32
    model = model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    load_tokenizer(str(files)).save_pretrained(tmp)
    if (files / PROMPT_FORMAT_FILE).is_file():
        shutil.copy(files / PROMPT_FORMAT_FILE, tmp / PROMPT_FORMAT_FILE)
    trainer_state = json.loads((step_dir / "trainer_state.json").read_text())
    (tmp / STEP_FILE).write_text(json.dumps({"step": trainer_state["step"], "checkpoint": str(step_dir.resolve())}) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir
