"""Model loading: a local Hugging Face folder (model.path, or the cached base model of model.base),
or a tiny model from an inline config.

The tiny path is for the CPU demo and the tests: the model is built with
`AutoModelForCausalLM.from_config`, its vocabulary sized by the tokenizer (see `mft.tokenizer`).
"""
from __future__ import annotations

import os

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from .base_model import model_folder
from .config import ModelConfig
from .config_loader import ConfigError


def build_model(cfg: ModelConfig, tokenizer, *, seed: int) -> torch.nn.Module:
    """The model in fp32 (DeepSpeed casts to bf16 when asked); identical on every rank."""
    torch.manual_seed(seed)
    folder = model_folder(cfg)
    if folder:
        if not os.path.exists(os.path.join(folder, "config.json")):
            raise ConfigError(f"model.path: {folder} holds no config.json; give a Hugging Face model folder")
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
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
