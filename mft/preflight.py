"""The checks of a run that need neither the model nor the other ranks.

The command line runs `check_run` right after loading the config, before tokenisation, the
model and DeepSpeed (minutes with a large model): a missing or empty data file, an unreadable
DeepSpeed file, a missing model folder or a trained tokenizer's vocabulary too small for the
data ends the run here with one line naming the file or key.
"""
from __future__ import annotations

import os

from data_pipeline.build import check_files

from .config import RunConfig, deepspeed_dict
from .config_loader import ConfigError
from .tokenizer import default_cache_dir, train_tokenizer


def check_run(cfg: RunConfig, *, rank: int) -> None:
    """Raise `ConfigError` / `DataError` for the first mistake found. Rank 0 also trains the run's
    tokenizer when the config asks for one (it is cached for the run), so that its errors come here."""
    check_files(cfg.data)
    deepspeed_dict(cfg)
    model = cfg.model
    if model.path and not os.path.isfile(os.path.join(model.path, "config.json")):
        raise ConfigError(f"model.path: {model.path} holds no config.json; give a Hugging Face model folder")
    if model.tokenizer and not os.path.isdir(model.tokenizer):
        raise ConfigError(f"model.tokenizer: folder {model.tokenizer} not found")
    if rank == 0 and not (model.tokenizer or model.path):
        train_tokenizer(model, cfg.data, cfg.data.cache_dir or default_cache_dir())
