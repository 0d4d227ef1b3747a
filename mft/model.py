"""Model and tokenizer loading: a local Hugging Face folder, or a tiny model from an inline config.

The tiny path is for the CPU demo and the tests: the model is built with
`AutoModelForCausalLM.from_config` and, without a tokenizer folder, a sentencepiece tokenizer
is trained on the run's training files (cached by their content and the vocabulary size).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Iterator

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from data_pipeline import DataConfig, DataError, load_tokenizer, train_sentencepiece

from .config import ModelConfig
from .config_loader import ConfigError
from .distributed import barrier


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _training_texts(data: DataConfig) -> list[str]:
    """Every string in the training records (malformed lines are left to the data pipeline)."""
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


def build_tokenizer(cfg: ModelConfig, data: DataConfig, cache_dir: str, *, rank: int):
    """Load the tokenizer folder, or train (rank 0, cached) and load the demo tokenizer."""
    folder = cfg.tokenizer or cfg.path
    if folder:
        if not os.path.isdir(folder):
            raise ConfigError(f"model.tokenizer: folder {folder} not found")
        return load_tokenizer(folder)
    texts = _training_texts(data)
    digest = hashlib.sha256(json.dumps([cfg.tokenizer_train_vocab, texts]).encode()).hexdigest()[:16]
    out_dir = os.path.join(cache_dir, f"tokenizer-{digest}")
    if rank == 0 and not os.path.exists(os.path.join(out_dir, "tokenizer.model")):
        train_sentencepiece(texts, out_dir, vocab_size=cfg.tokenizer_train_vocab)
    barrier()
    return load_tokenizer(out_dir)


def build_model(cfg: ModelConfig, tokenizer, *, seed: int) -> torch.nn.Module:
    """The model in fp32 (DeepSpeed casts to bf16 when asked); identical on every rank."""
    torch.manual_seed(seed)
    if cfg.path:
        if not os.path.exists(os.path.join(cfg.path, "config.json")):
            raise ConfigError(f"model.path: {cfg.path} holds no config.json; give a Hugging Face model folder")
        model = AutoModelForCausalLM.from_pretrained(cfg.path, torch_dtype=torch.float32,
                                                     attn_implementation=cfg.attn_implementation)
    else:
        options = dict(cfg.tiny)
        model_type = options.pop("model_type", None)
        if not model_type:
            raise ConfigError("model.tiny needs a model_type, e.g. \"llama\"")
        options.setdefault("vocab_size", len(tokenizer))
        options.update(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id)
        try:
            config = AutoConfig.for_model(model_type, **options)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"model.tiny: {exc}") from None
        model = AutoModelForCausalLM.from_config(config, attn_implementation=cfg.attn_implementation)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        raise ConfigError(f"the tokenizer has {len(tokenizer)} tokens but the model's vocabulary only "
                          f"{model.get_input_embeddings().weight.shape[0]}; use the model's own tokenizer")
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model
