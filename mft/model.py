"""Model loading: a local Hugging Face folder (model.path, or the cached base model of model.base),
or a tiny model from an inline config.

The tiny path is for the CPU demo and the tests: the model is built with
`AutoModelForCausalLM.from_config`, its vocabulary sized by the tokenizer (see `mft.tokenizer`).

The model is loaded in its training dtype. Under ZeRO-3 it is built partitioned from the start
(DeepSpeed's `zero.Init` through transformers' DeepSpeed integration, enabled by the object
`zero3_loading` returns, which the caller keeps alive until the engine exists): no rank ever
holds the whole model. `model.lora` wraps it in peft LoRA adapters (only they train);
`model.quantization = "4bit"` loads the frozen base in bitsandbytes NF4 (QLoRA, CUDA only).
"""
from __future__ import annotations

import os

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from .base_model import model_folder
from .config import LoraSettings, ModelConfig
from .config_loader import ConfigError
from .ds_config import zero_stage
from .tokenizer import remote_code_error


def training_dtype(cfg: ModelConfig) -> torch.dtype:
    return torch.bfloat16 if cfg.dtype == "bf16" else torch.float32


def zero3_loading(ds_config: dict, cfg: ModelConfig):
    """transformers' handle that makes `from_pretrained` / `from_config` build the model partitioned
    (zero.Init) under ZeRO-3, else None. transformers holds it weakly: keep it referenced until
    `deepspeed.initialize` has run. Needs the process group."""
    if zero_stage(ds_config) != 3 or cfg.quantization:
        return None
    from transformers.integrations import HfDeepSpeedConfig
    return HfDeepSpeedConfig(ds_config)


def check_model_options(cfg: ModelConfig, ds_config: dict, *, cuda: bool) -> None:
    """Combinations that cannot run, each a one-line ConfigError naming the key (before any loading)."""
    if cfg.quantization:
        if not cuda:
            raise ConfigError(f"model.quantization = {cfg.quantization!r} needs a CUDA GPU (bitsandbytes NF4); "
                              "remove it to train LoRA on an unquantized base")
        if zero_stage(ds_config) == 3:
            raise ConfigError("model.quantization with ZeRO-3: the 4-bit base cannot be partitioned by zero.Init; "
                              "use ZeRO stage 0-2 (the frozen base is a quarter of bf16's size)")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ConfigError("model.quantization needs bitsandbytes: pip install 'mft[qlora]'") from None
    if cfg.lora is not None:
        try:
            import peft  # noqa: F401
        except ImportError:
            raise ConfigError("model.lora needs peft: pip install peft") from None


def build_model(cfg: ModelConfig, tokenizer, *, seed: int, ds_config: dict | None = None,
                device: torch.device = torch.device("cpu")) -> torch.nn.Module:
    """The model in its training dtype (partitioned under ZeRO-3 while `zero3_loading`'s handle
    lives), with LoRA adapters when asked; the same on every rank for a given seed."""
    check_model_options(cfg, ds_config or {}, cuda=device.type == "cuda")
    torch.manual_seed(seed)
    folder = model_folder(cfg)
    model = _load_pretrained(cfg, folder, device) if folder else _build_tiny(cfg, tokenizer)
    vocab = model.get_input_embeddings().weight
    vocab_size = getattr(vocab, "ds_shape", vocab.shape)[0]
    if len(tokenizer) > vocab_size:
        raise ConfigError(f"the tokenizer has {len(tokenizer)} tokens but the model's vocabulary only "
                          f"{vocab_size}; use the model's own tokenizer")
    model.config.use_cache = False
    if cfg.quantization:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora is not None:
        model = apply_lora(model, cfg.lora)
    return model


def _load_pretrained(cfg: ModelConfig, folder: str, device: torch.device) -> torch.nn.Module:
    if not os.path.exists(os.path.join(folder, "config.json")):
        raise ConfigError(f"model.path: {folder} holds no config.json; give a Hugging Face model folder")
    options = dict(dtype=training_dtype(cfg), attn_implementation=cfg.attn_implementation,
                   trust_remote_code=cfg.trust_remote_code)
    if cfg.quantization:
        from transformers import BitsAndBytesConfig
        options.update(dtype=torch.bfloat16, device_map={"": device.index or 0},
                       quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                              bnb_4bit_use_double_quant=True,
                                                              bnb_4bit_compute_dtype=torch.bfloat16))
    try:
        return AutoModelForCausalLM.from_pretrained(folder, **options)
    except ValueError as exc:
        raise remote_code_error(exc, folder) from None


def _build_tiny(cfg: ModelConfig, tokenizer) -> torch.nn.Module:
    """From the inline config. Built in fp32 and then cast, so that a seed gives the same weights
    in either dtype; under ZeRO-3 see `_seeded_zero3_init`."""
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
    model = AutoModelForCausalLM.from_config(config, attn_implementation=cfg.attn_implementation,
                                             dtype=torch.float32)
    if _partitioned(model):
        return model  # zero.Init already holds each partition in the training dtype
    return model.to(training_dtype(cfg))


def _partitioned(model: torch.nn.Module) -> bool:
    return any(hasattr(p, "ds_id") for p in model.parameters())


def model_facts(model: torch.nn.Module) -> dict:
    """What this rank holds of the model, as built, for the memory trace: `params_held` (elements
    in this rank's memory; under ZeRO-3 its partition, `ds_tensor`), `params_total` (the whole
    model's, `ds_numel`; a 4-bit weight counts its packed bytes), `parameters`, how many of them
    ZeRO-3 manages (`zero3_params`) and how many are bitsandbytes 4-bit (`params_4bit`), their
    dtypes, and whether gradient checkpointing is on."""
    held = total = count = zero3 = four_bit = 0
    dtypes = set()
    for p in model.parameters():
        shard = getattr(p, "ds_tensor", None)
        held += shard.numel() if shard is not None else p.numel()
        total += getattr(p, "ds_numel", p.numel())
        count += 1
        zero3 += hasattr(p, "ds_id")
        four_bit += type(p).__name__ == "Params4bit"
        dtypes.add(str((shard if shard is not None else p).dtype).removeprefix("torch."))
    return {"params_held": held, "params_total": total, "parameters": count, "zero3_params": zero3,
            "params_4bit": four_bit, "param_dtypes": sorted(dtypes),
            "gradient_checkpointing": bool(getattr(model, "is_gradient_checkpointing", False))}


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """The distinct last name components of the model's linear layers (what LoRA can target)."""
    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def apply_lora(model: torch.nn.Module, lora: LoraSettings) -> torch.nn.Module:
    """Wrap the model in peft LoRA adapters; every other parameter is frozen."""
    from peft import LoraConfig, get_peft_model

    targets: str | list[str] = lora.target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"
    else:
        names = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
        for i, entry in enumerate(targets):
            if not any(n == entry or n.endswith("." + entry) for n in names):
                raise ConfigError(f"model.lora.target_modules[{i}] = {entry!r} matches no linear module; the model's "
                                  f"linear modules are {', '.join(linear_module_names(model))} (or use \"all-linear\")")
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def optimizer_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups over the trainable parameters: no decay for biases and norms.
    Under ZeRO-3 a parameter's own shape is its partition's; `ds_shape` is the full one."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        ndim = len(getattr(p, "ds_shape", p.shape))
        (no_decay if ndim < 2 or "norm" in name.lower() else decay).append(p)
    return [group for group in ({"params": decay, "weight_decay": weight_decay},
                                {"params": no_decay, "weight_decay": 0.0}) if group["params"]]
