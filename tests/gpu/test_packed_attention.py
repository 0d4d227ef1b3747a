"""Packed rows without an L x L mask on a GPU: flash-attn's varlen kernel and flex attention's
BlockMask give every sample of a packed row the losses (and, for flex, the gradients) it has alone."""
from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from data_pipeline import Collator
from mft.attention import model_inputs
from test_data_collate import PAD, random_split

LENGTHS = [100, 300, 57, 41]  # two packed rows of 512 (crossing flex's 128-token blocks) + padding
ROWS = [[0, 1, 2], [3]]


def llama(attn: str, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=320, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation=attn).to("cuda", dtype)


def losses(model, batch: dict, inputs: dict) -> torch.Tensor:
    labels = batch["labels"].cuda()
    logits = model(**inputs, use_cache=False).logits.float()
    out = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    return out[labels != -100]


def packed_and_alone(model, attn: str, split) -> tuple[torch.Tensor, torch.Tensor]:
    packed = Collator(split, 512, PAD, dynamic=False)(ROWS)
    together = losses(model, packed, model_inputs(packed, attn, packed=True, mask_dtype=torch.float32, device="cuda"))
    alone = []
    for i in (i for row in ROWS for i in row):
        batch = Collator(split, 512, PAD)([[i]])
        alone.append(losses(model, batch, model_inputs(batch, attn, packed=False, mask_dtype=torch.float32,
                                                       device="cuda")))
    return together, torch.cat(alone)


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is None, reason="flash-attn is not installed")
def test_flash_attention_packed_losses_equal_unpacked():
    split = random_split(LENGTHS, seed=3)
    model = llama("flash_attention_2", torch.bfloat16).eval()
    with torch.no_grad():
        together, alone = packed_and_alone(model, "flash_attention_2", split)
        assert len(together) == len(alone) > 300
        assert torch.allclose(together, alone, atol=2e-2, rtol=0), (together - alone).abs().max()
        # without the cumulative lengths the kernel sees one causal sequence per row: samples leak
        packed = Collator(split, 512, PAD, dynamic=False)(ROWS)
        inputs = {"input_ids": packed["input_ids"].cuda(), "position_ids": packed["position_ids"].cuda()}
        assert (losses(model, packed, inputs) - alone).abs().max() > 5e-2


def test_flex_attention_packed_losses_and_gradients_equal_unpacked():
    torch.backends.cuda.matmul.allow_tf32 = False
    split = random_split(LENGTHS, seed=3)
    model = llama("flex_attention", torch.float32).train()
    together, alone = packed_and_alone(model, "flex_attention", split)
    assert len(together) == len(alone) > 300
    assert torch.allclose(together, alone, atol=1e-4, rtol=0), (together - alone).abs().max()
    grads = []
    for loss in (together.sum(), alone.sum()):
        model.zero_grad(set_to_none=True)
        loss.backward(retain_graph=True)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-4, rtol=1e-3)
    assert grads[0].abs().max() > 0
