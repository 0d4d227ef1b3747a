"""The checks of a run that need neither the model nor the other ranks.

The command line runs `check_run` right after loading the config, before tokenisation, the
model and DeepSpeed (minutes with a large model): a missing or empty data file, a missing model
folder, a trained tokenizer's vocabulary too small for the data, a `--resume` without a
checkpoint, an attention kernel this machine cannot train with, a DeepSpeed JSON that
contradicts the run config or model options that cannot run together (`model.quantization`
without CUDA or under ZeRO-3) ends the run here, with one line
naming the file or key. The launcher's environment ($RANK, $WORLD_SIZE) says which rank this is
before any process group exists.
"""
from __future__ import annotations

import json
import os

from data_pipeline.build import check_files

from .base_model import model_folder
from .config import RunConfig, deepspeed_dict
from .config_loader import ConfigError
from .tokenizer import default_cache_dir, train_tokenizer


def launch_rank() -> int:
    """This process's rank as the launcher set it; 0 for a plain `python` run."""
    return int(os.environ.get("RANK") or 0)


def launch_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE") or 1)


def launch_local_rank() -> int:
    """This process's rank among those of its node; 0 for a plain `python` run."""
    return int(os.environ.get("LOCAL_RANK") or 0)


def check_run(cfg: RunConfig, *, local_rank: int, resume: str | None = None) -> None:
    """Raise `ConfigError`, `DataError` or `FileNotFoundError` for the first mistake found. Local
    rank 0 also trains the run's tokenizer when the config asks for one (it is cached for the run,
    in each node's own cache), so that its errors come here. The attention and DeepSpeed checks
    come last: they import torch (seconds)."""
    check_files(cfg.data)
    model = cfg.model
    folder = model_folder(model)  # model.path, or the cached model of model.base (an error until built)
    if folder and not os.path.isfile(os.path.join(folder, "config.json")):
        raise ConfigError(f"model.path: {folder} holds no config.json; give a Hugging Face model folder")
    if model.tokenizer and not os.path.isdir(model.tokenizer):
        raise ConfigError(f"model.tokenizer: folder {model.tokenizer} not found")
    if model.tiny is not None and not model.tiny.get("model_type"):
        raise ConfigError("model.tiny needs a model_type, e.g. \"llama\"")
    if resume:
        check_resume(cfg, resume)
    if local_rank == 0 and not (model.tokenizer or folder):
        train_tokenizer(model, cfg.data, cfg.data.cache_dir or default_cache_dir())
    import torch

    from .attention import check_attention
    from .ds_config import check_deepspeed

    check_attention(model.attn_implementation, model.dtype, torch.device("cuda" if torch.cuda.is_available() else "cpu"))

    check_deepspeed(deepspeed_dict(cfg), cfg, launch_world_size())
    from .model import check_model_options

    check_model_options(model, deepspeed_dict(cfg), cuda=torch.cuda.is_available())


def check_resume(cfg: RunConfig, resume: str) -> None:
    """`--resume latest` needs a checkpoint in output_dir, `--resume FOLDER` an mft checkpoint of
    the same tasks."""
    root = os.path.join(cfg.output_dir, "checkpoints")
    path = resume
    if resume == "latest":
        pointer = os.path.join(root, "latest")
        if not os.path.isfile(pointer):
            raise FileNotFoundError(f"--resume latest: no checkpoint in {root}; "
                                    "start without --resume or give a checkpoint folder")
        with open(pointer, encoding="utf-8") as f:
            path = os.path.join(root, f.read().strip())
    state_file = os.path.join(path, "trainer_state.json")
    if not os.path.isfile(state_file):
        raise FileNotFoundError(f"{path} is not an mft checkpoint (no trainer_state.json); "
                                f"give --resume a folder like {root}/step_000100, or 'latest'")
    with open(state_file, encoding="utf-8") as f:
        tasks = json.load(f).get("tasks")
    expected = [t.name for t in cfg.data.selected().tasks]
    if tasks != expected:
        raise ConfigError(f"--resume {resume}: {path} was trained on tasks {tasks}, this config has {expected}")
