"""Where the pretrained base model of a base config lives: read by the core, built by the experiments.

    spec = load_base_config("configs/base_cpu.json")
    model_folder(ModelConfig(base="configs/base_cpu.json"))   # spec.folder, once it is built

A base config is a run config without `output_dir` and `data.tasks`, plus a `base` section that
says how to make the pretraining corpus and on how many ranks to train. The build
(`mft.experiments.pretrain.ensure_base`, run by launch/pretrain_base.py) writes the corpus, trains
on it with the ordinary trainer and puts the best checkpoint's Hugging Face folder at
`<cache>/base-<key>`. The key hashes everything that changes the model: the run settings (the
DeepSpeed file by its content), the `base` section and CORPUS_GENERATOR_VERSION. Fine-tuning
configs refer to a base config with `model.base`; `model_folder` resolves it.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass

from data_pipeline.cache import default_cache_dir

from .config import ModelConfig, RunConfig, make_paths_absolute, read_json_file
from .config_loader import ConfigError, build

# The version of the pretraining corpus generator (mft.experiments.synthetic): bump it whenever a
# change alters what a seed produces, so that cached base models are rebuilt.
CORPUS_GENERATOR_VERSION = 1

TASK = "corpus"
NOT_KEYED = ("description", "logging", "checkpoint")  # settings that cannot change the trained weights


@dataclass
class BaseBuild:
    seed: int = 0                       # corpus seed (the training seed is training.seed)
    train_records: int = 100_000        # pretraining records drawn by mft.experiments.synthetic.corpus
    valid_records: int = 1_000          # validation records (best-checkpoint selection)
    ranks: int = 2                      # training ranks; the global batch is micro x accum x ranks

    def __post_init__(self) -> None:
        for key in ("train_records", "valid_records", "ranks"):
            if getattr(self, key) < 1:
                raise ConfigError(f"base.{key} must be >= 1, got {getattr(self, key)}")


@dataclass
class BaseSpec:
    config_path: str
    build: BaseBuild
    run: dict                           # the run config's raw dict, paths absolute, no output_dir or data.tasks
    key: str
    folder: str                         # where the finished model lives

    def run_config(self, work: str) -> dict:
        """The full run config that trains this base in folder `work`."""
        run = copy.deepcopy(self.run)
        run["output_dir"] = os.path.join(work, "run")
        run.setdefault("data", {})["tasks"] = [{"name": TASK, "train": [os.path.join(work, "corpus.train.jsonl")],
                                                "valid": [os.path.join(work, "corpus.valid.jsonl")]}]
        return run


def is_base_config(path: str) -> bool:
    """Whether the JSON file at `path` is a base config (a `base` section) rather than a run config."""
    raw = read_json_file(path)
    return isinstance(raw, dict) and "base" in raw


def load_base_config(path: str) -> BaseSpec:
    """Read and check a base config; its cache key and folder follow from the content."""
    raw = read_json_file(path, "base config")
    if not isinstance(raw, dict) or "base" not in raw:
        raise ConfigError(f"{path}: a base config needs a 'base' section (corpus seed, sizes, ranks)")
    if "output_dir" in raw:
        raise ConfigError(f"{path}: remove output_dir; a base model goes to the cache (see mft/base_model.py)")
    if "tasks" in raw.get("data", {}):
        raise ConfigError(f"{path}: remove data.tasks; the pretraining corpus is generated (base section)")
    build_settings = build(BaseBuild, raw.pop("base"), "base")
    make_paths_absolute(raw, os.path.dirname(os.path.abspath(path)))
    key = _key(raw, build_settings)
    folder = os.path.join(raw.get("data", {}).get("cache_dir") or default_cache_dir(), f"base-{key}")
    spec = BaseSpec(os.path.abspath(path), build_settings, raw, key, folder)
    try:
        build(RunConfig, spec.run_config(folder + ".build"))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return spec


def _key(raw: dict, build_settings: BaseBuild) -> str:
    settings = {k: v for k, v in raw.items() if k not in NOT_KEYED}
    settings["data"] = {k: v for k, v in settings.get("data", {}).items() if k != "cache_dir"}
    if isinstance(settings.get("deepspeed"), str):  # the file's content, not where it lives
        settings["deepspeed"] = read_json_file(settings["deepspeed"], "deepspeed config")
    material = {"run": settings, "base": dataclasses.asdict(build_settings), "generator": CORPUS_GENERATOR_VERSION}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def model_folder(cfg: ModelConfig) -> str:
    """The model folder a model config names: model.path, or the cached model of model.base."""
    if not cfg.base:
        return cfg.path
    spec = load_base_config(cfg.base)
    if not os.path.exists(os.path.join(spec.folder, "config.json")):
        raise ConfigError(f"model.base: the base model of {cfg.base} is not built yet; "
                          f"run python launch/pretrain_base.py --config {cfg.base}")
    return spec.folder
