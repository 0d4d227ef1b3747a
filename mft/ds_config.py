"""The DeepSpeed engine config: the user's DeepSpeed JSON plus the settings mft owns.

The mft run config is the single source of truth for batch geometry, optimizer, clipping and
precision; the DeepSpeed JSON carries the engine settings (ZeRO stage, offload, bucket sizes, ...).
A DeepSpeed JSON that sets an owned key to a different value is an error naming the mft key.
"""
from __future__ import annotations

from .config import RunConfig
from .config_loader import ConfigError

_OWNED = {  # DeepSpeed key -> the mft key that sets it
    "train_micro_batch_size_per_gpu": "training.micro_batch_size",
    "gradient_accumulation_steps": "training.grad_accum",
    "train_batch_size": "training.micro_batch_size x training.grad_accum x ranks",
    "gradient_clipping": "training.grad_clip",
    "optimizer": "training.lr / weight_decay / betas",
    "scheduler": "training.lr / min_lr / warmup_steps (mft's cosine schedule)",
}


def engine_config(user: dict, cfg: RunConfig, world_size: int) -> dict:
    """The DeepSpeed config the engine gets; raises `ConfigError` as `check_deepspeed` does."""
    check_deepspeed(user, cfg, world_size)
    merged = {"steps_per_print": 10**9, "wall_clock_breakdown": False, **user, **_owned(cfg, world_size)}
    merged["bf16"] = {**user.get("bf16", {}), "enabled": cfg.model.dtype == "bf16"}
    return merged


def check_deepspeed(user: dict, cfg: RunConfig, world_size: int) -> None:
    """Raise `ConfigError` where the user's DeepSpeed JSON sets what the mft config owns, or asks
    for what mft does not support."""
    for key, value in _owned(cfg, world_size).items():
        if key in user and user[key] != value and user[key] != "auto":
            raise ConfigError(f"deepspeed.{key} = {user[key]!r} conflicts with the mft config; "
                              f"remove it from the DeepSpeed JSON and set {_OWNED[key]} instead")
    if "scheduler" in user:
        raise ConfigError(f"deepspeed.scheduler: remove it; set {_OWNED['scheduler']} instead")
    if user.get("fp16", {}).get("enabled"):
        raise ConfigError("deepspeed.fp16 is not supported; set model.dtype to \"bf16\" or \"fp32\"")
    if not isinstance(user.get("zero_optimization", {}), dict):
        raise ConfigError("deepspeed.zero_optimization must be an object, e.g. {\"stage\": 2}")


def _owned(cfg: RunConfig, world_size: int) -> dict:
    import torch

    t = cfg.training
    return {
        "train_micro_batch_size_per_gpu": t.micro_batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "train_batch_size": t.micro_batch_size * t.grad_accum * world_size,
        "gradient_clipping": t.grad_clip,
        "optimizer": {"type": "AdamW", "params": {
            "lr": t.lr, "betas": list(t.betas), "eps": 1e-8, "weight_decay": t.weight_decay,
            **({} if torch.cuda.is_available() else {"torch_adam": True})}},  # no CPUAdam compile on CPU
    }


def zero_stage(ds: dict) -> int:
    """The ZeRO stage a DeepSpeed config asks for (0 when it names none)."""
    return int(ds.get("zero_optimization", {}).get("stage", 0))
