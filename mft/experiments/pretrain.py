"""Build the pretrained base model of a base config (see `mft.base_model`), once, and cache it.

    spec = load_base_config("configs/base_cpu.json")
    folder, built = ensure_base(spec)      # trains only when the cache has no such model

The build writes the synthetic corpus, trains on it with the ordinary trainer (one task,
`corpus`) through launch/train.py, and moves the best checkpoint's Hugging Face folder (weights
and tokenizer) to the spec's cache folder, with a record of how it was made.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil

from ..base_model import CORPUS_GENERATOR_VERSION, TASK, BaseBuild, BaseSpec
from ..config import load_config
from .reproduce import MethodRun, train
from .synthetic import corpus, write_jsonl

logger = logging.getLogger(__name__)


def ensure_base(spec: BaseSpec) -> tuple[str, bool]:
    """(model folder, whether it was built now): the cached folder, or pretrain and cache it."""
    if os.path.exists(os.path.join(spec.folder, "config.json")):
        return spec.folder, False
    work = spec.folder + ".build"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    _write_corpus(spec.build, work)
    config_path = os.path.join(work, "run_config.json")
    with open(config_path, "w") as f:
        json.dump(spec.run_config(work), f, indent=1)
    cfg = load_config(config_path)
    logger.info(f"pretraining the base model of {spec.config_path} ({spec.build.ranks} rank(s)) -> {spec.folder}")
    train(MethodRun("base", cfg.output_dir, []), config_path, [], spec.build.ranks)
    _publish(spec, cfg.output_dir, config_path)
    shutil.rmtree(work)
    return spec.folder, True


def _write_corpus(settings: BaseBuild, work: str) -> None:
    splits = {"train": corpus(settings.seed, settings.train_records),
              "valid": corpus(settings.seed + 1, settings.valid_records)}
    for split, records in splits.items():
        write_jsonl(os.path.join(work, f"{TASK}.{split}.jsonl"), records)


def _publish(spec: BaseSpec, run_dir: str, config_path: str) -> None:
    """Move the best checkpoint's model folder into the cache, with how it was made."""
    tmp = spec.folder + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(os.path.join(run_dir, "best"), tmp)
    made = os.path.join(tmp, "pretraining")
    os.makedirs(made)
    for name in ("metrics.jsonl", "summary.json"):
        shutil.copy(os.path.join(run_dir, name), made)
    shutil.copy(config_path, made)
    with open(os.path.join(tmp, "mft_base.json"), "w") as f:
        json.dump({"key": spec.key, "config": spec.config_path, "generator_version": CORPUS_GENERATOR_VERSION,
                   "base": dataclasses.asdict(spec.build)}, f, indent=1)
    os.replace(tmp, spec.folder)
