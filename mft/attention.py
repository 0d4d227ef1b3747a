"""A batch's model inputs for the configured attention kernel, and whether that kernel can run here.

    check_attention(cfg.model.attn_implementation, cfg.model.dtype, device)     # at start-up
    logits = model(**model_inputs(batch, cfg.model.attn_implementation, packed=True,
                                  mask_dtype=torch.bfloat16, device=device), use_cache=False).logits

Packed rows (several samples per row) must never attend across samples. Each kernel is told so
its own way:
  sdpa, eager        the additive (B, 1, L, L) block-causal mask of `block_causal_mask`;
  flash_attention_2  no mask: flash-attn's varlen kernel over the flattened batch, with the
                     cumulative sequence lengths (a sequence starts wherever the position ids
                     restart at 0; each padding position is a sequence of its own);
  flex_attention     a `BlockMask` (same segment and causal), O((L / 128)^2) memory instead of L^2.
In padding mode (one sample per row) every kernel gets the (B, L) padding mask.
"""
from __future__ import annotations

import importlib.util

import torch

from data_pipeline import block_causal_mask

from .config_loader import ConfigError


def model_inputs(batch: dict[str, torch.Tensor], attn_implementation: str, *, packed: bool,
                 mask_dtype: torch.dtype, device: torch.device | str) -> dict:
    """Keyword arguments of the model's forward (without use_cache) for a collated batch."""
    inputs = {"input_ids": batch["input_ids"].to(device), "position_ids": batch["position_ids"].to(device)}
    if not packed:
        inputs["attention_mask"] = batch["attention_mask"].to(device)
    elif attn_implementation == "flash_attention_2":
        positions = batch["position_ids"].reshape(-1)
        starts = torch.nonzero(positions == 0).reshape(-1)
        cu_seq_lens = torch.cat([starts, torch.tensor([positions.numel()])]).to(torch.int32)
        longest = int(cu_seq_lens.diff().max())
        inputs.update(cu_seq_lens_q=cu_seq_lens.to(device), cu_seq_lens_k=cu_seq_lens.to(device),
                      max_length_q=longest, max_length_k=longest)
    elif attn_implementation == "flex_attention":
        inputs["attention_mask"] = document_block_mask(batch["segment_ids"].to(device))
    else:
        inputs["attention_mask"] = block_causal_mask(batch["segment_ids"], mask_dtype).to(device)
    return inputs


def document_block_mask(segment_ids: torch.Tensor):
    """flex attention's BlockMask: query t sees key s <= t of the same segment (padding sees padding)."""
    from torch.nn.attention.flex_attention import create_block_mask

    def same_sample_causal(b, h, q, kv):
        return (segment_ids[b, q] == segment_ids[b, kv]) & (q >= kv)

    batch, length = segment_ids.shape
    return create_block_mask(same_sample_causal, B=batch, H=None, Q_LEN=length, KV_LEN=length,
                             device=segment_ids.device)


def check_attention(attn_implementation: str, dtype: str, device: torch.device) -> None:
    """Raise ConfigError (one line naming model.attn_implementation) if the kernel cannot train here."""
    key = f"model.attn_implementation: {attn_implementation}"
    if attn_implementation == "flash_attention_2":
        if device.type != "cuda":
            raise ConfigError(f"{key} needs a CUDA GPU and this run is on {device.type}; use sdpa "
                              "(packed rows then get an additive block mask)")
        if importlib.util.find_spec("flash_attn") is None:
            raise ConfigError(f"{key} needs the flash-attn package, which is not installed; "
                              "pip install flash-attn, or use flex_attention (no extra package) or sdpa")
        if dtype != "bf16":
            raise ConfigError(f"{key} runs in bf16 only; set model.dtype to bf16, or use flex_attention or sdpa")
    if attn_implementation == "flex_attention" and device.type != "cuda":
        raise ConfigError(f"{key} cannot train on {device.type} (torch has no CPU backward for it); "
                          "use sdpa, or run on a CUDA GPU")
