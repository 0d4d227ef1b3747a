"""The run's tokenizer: a folder, or a sentencepiece model trained on the run's training files.

The trained one (model.tiny with model.tokenizer_train_vocab, for the CPU demo and the tests)
is cached by the training texts and the vocabulary size. `train_tokenizer` may run before any
process group exists (the command line does so on rank 0, to report a mistake before DeepSpeed
starts); its errors name the key or the file.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Iterator

from data_pipeline import DataConfig, DataError, load_tokenizer, train_sentencepiece
from data_pipeline.cache import default_cache_dir  # noqa: F401  (the run's cache folder; re-exported)
from data_pipeline.tokenizers import MODEL_FILE, VocabTooSmall

from .base_model import model_folder
from .config import ModelConfig
from .config_loader import ConfigError


def build_tokenizer(cfg: ModelConfig, data: DataConfig, cache_dir: str, *, rank: int) -> Any:
    """Load the tokenizer folder, or train (rank 0, unless cached) and load the run's tokenizer."""
    folder = cfg.tokenizer or model_folder(cfg)
    if folder:
        if not os.path.isdir(folder):
            raise ConfigError(f"model.tokenizer: folder {folder} not found")
        if cfg.trust_remote_code:
            return _remote_code_tokenizer(folder)
        try:
            return load_tokenizer(folder)
        except ValueError as exc:
            raise remote_code_error(exc, folder) from None
    from .distributed import barrier

    texts = training_texts(data)
    out_dir = _trained_dir(cfg, texts, cache_dir)
    if rank == 0:
        _train(cfg, data, texts, out_dir)
    barrier()
    return load_tokenizer(out_dir)


def train_tokenizer(cfg: ModelConfig, data: DataConfig, cache_dir: str) -> str:
    """Train the run's tokenizer unless it is cached; its folder. Any process may call it."""
    texts = training_texts(data)
    out_dir = _trained_dir(cfg, texts, cache_dir)
    _train(cfg, data, texts, out_dir)
    return out_dir


def training_texts(data: DataConfig) -> list[str]:
    """Every non-blank string in the training records (malformed lines are left to the data pipeline)."""
    texts = []
    for i, task in enumerate(data.tasks):
        for j, path in enumerate(task.train):
            if not os.path.isfile(path):
                raise DataError(f"{path}: file not found; fix data.tasks[{i}].train[{j}] (task {task.name!r})")
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        texts.extend(s for s in _strings(json.loads(line)) if s.strip())
                    except json.JSONDecodeError:
                        continue
    return texts


def _trained_dir(cfg: ModelConfig, texts: list[str], cache_dir: str) -> str:
    digest = hashlib.sha256(json.dumps([cfg.tokenizer_train_vocab, texts]).encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f"tokenizer-{digest}")


def _train(cfg: ModelConfig, data: DataConfig, texts: list[str], out_dir: str) -> None:
    if os.path.exists(os.path.join(out_dir, MODEL_FILE)):
        return
    try:
        train_sentencepiece(texts, out_dir, vocab_size=cfg.tokenizer_train_vocab)
    except VocabTooSmall as exc:
        raise ConfigError(
            f"model.tokenizer_train_vocab: {exc.asked} is too small for the training data, which needs "
            f"{exc.needed} pieces (every distinct character, 256 byte pieces and the special pieces); "
            f"set it to at least {exc.needed}") from None
    except DataError as exc:
        files = ", ".join(dict.fromkeys(path for task in data.tasks for path in task.train))
        raise DataError(f"model.tokenizer_train_vocab: the training files ({files}) hold {exc}; "
                        "add records with text or give model.tokenizer") from None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _remote_code_tokenizer(folder: str):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def remote_code_error(exc: Exception, folder: str) -> Exception:
    """A ConfigError naming model.trust_remote_code when transformers refused a folder's own code."""
    if "trust_remote_code" in str(exc):
        return ConfigError(f"model.trust_remote_code: {folder} needs the Python code it ships (config.json "
                           "\"auto_map\"); set model.trust_remote_code=true if you trust that code")
    return exc
