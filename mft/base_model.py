"""A pretrained base model for the CPU experiments, built once and cached by content.

    spec = load_base_config("configs/base_cpu.json")
    folder, built = ensure_base(spec)      # trains only when the cache has no such model

A base config is a run config without `output_dir` and `data.tasks`, plus a `base` section that
says how to make the pretraining corpus (`mft.synthetic`) and on how many ranks to train. The
build writes the corpus, trains on it with the ordinary trainer (one task, `corpus`) through
launch/train.py, and moves the best checkpoint's Hugging Face folder (weights and tokenizer) to
`<cache>/base-<key>`. The key hashes everything that changes the model: the run settings (the
DeepSpeed file by its content), the `base` section and `mft.synthetic.GENERATOR_VERSION`.
Fine-tuning configs refer to a base config with `model.base`; `model_folder` resolves it.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass

from .config import ModelConfig, RunConfig, load_config, make_paths_absolute, read_json_file
from .config_loader import ConfigError, build
from .synthetic import GENERATOR_VERSION, corpus, write_jsonl

logger = logging.getLogger(__name__)

TASK = "corpus"
NOT_KEYED = ("description", "logging", "checkpoint")  # settings that cannot change the trained weights


@dataclass
class BaseBuild:
    seed: int = 0                       # corpus seed (the training seed is training.seed)
    train_records: int = 100_000        # pretraining records drawn by mft.synthetic.corpus
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
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
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
    from .tokenizer import default_cache_dir  # mft.tokenizer resolves model.base through this module

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
        settings["deepspeed"] = _read_json(settings["deepspeed"], "deepspeed")
    material = {"run": settings, "base": dataclasses.asdict(build_settings), "generator": GENERATOR_VERSION}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def _read_json(path: str, key: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{key}: cannot read {path} ({exc})") from None


def ensure_base(spec: BaseSpec) -> tuple[str, bool]:
    """(model folder, whether it was built now): the cached folder, or pretrain and cache it."""
    if os.path.exists(os.path.join(spec.folder, "config.json")):
        return spec.folder, False
    from .reproduce import MethodRun, train

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
        json.dump({"key": spec.key, "config": spec.config_path, "generator_version": GENERATOR_VERSION,
                   "base": dataclasses.asdict(spec.build)}, f, indent=1)
    os.replace(tmp, spec.folder)


def model_folder(cfg: ModelConfig) -> str:
    """The model folder a model config names: model.path, or the cached model of model.base."""
    if not cfg.base:
        return cfg.path
    spec = load_base_config(cfg.base)
    if not os.path.exists(os.path.join(spec.folder, "config.json")):
        raise ConfigError(f"model.base: the base model of {cfg.base} is not built yet; "
                          f"run python launch/pretrain_base.py --config {cfg.base}")
    return spec.folder
