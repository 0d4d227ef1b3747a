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


NO_FLASH_ATTN = importlib.util.find_spec("flash_attn") is None


@pytest.mark.skipif(NO_FLASH_ATTN, reason="flash-attn is not installed")
def test_flash_attention_kernel_separates_the_samples_our_cumulative_lengths_name():
    """flash-attn's varlen kernel itself (no transformers) with the cumulative lengths that
    model_inputs computes: every sample of the packed rows attends as it would alone; one
    sequence per row instead leaks."""
    from flash_attn import flash_attn_func, flash_attn_varlen_func

    split = random_split(LENGTHS, seed=3)
    packed = Collator(split, 512, PAD, dynamic=False)(ROWS)
    inputs = model_inputs(packed, "flash_attention_2", packed=True, mask_dtype=torch.bfloat16, device="cuda")
    bounds = inputs["cu_seq_lens_q"].tolist()
    assert [b - a for a, b in zip(bounds, bounds[1:]) if b - a > 1] == LENGTHS  # padding: one token each
    total = packed["input_ids"].numel()
    torch.manual_seed(0)
    q, k, v = (torch.randn(total, 4, 32, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    cu = inputs["cu_seq_lens_q"]
    out = flash_attn_varlen_func(q, k, v, cu, cu, inputs["max_length_q"], inputs["max_length_k"], causal=True)
    for a, b in zip(bounds, bounds[1:]):
        alone = flash_attn_func(q[None, a:b], k[None, a:b], v[None, a:b], causal=True)[0]
        assert torch.allclose(out[a:b], alone, atol=1e-2, rtol=0), (a, b)
    rows = torch.tensor([0, 512, total], dtype=torch.int32, device="cuda")
    leaked = flash_attn_varlen_func(q, k, v, rows, rows, 512, 512, causal=True)
    assert (leaked - out).abs().max() > 0.1


@pytest.mark.skipif(NO_FLASH_ATTN, reason="flash-attn is not installed")
def test_flash_attention_packed_losses_equal_unpacked():
    """The model gets the cumulative lengths from model_inputs and uses them: with the right ones
    each packed sample has its losses alone; with one sequence per row in their place (the
    position ids still restarting at every sample, from which transformers could find the samples
    by itself) the samples leak, so the run's separation is ours, not transformers' detection."""
    split = random_split(LENGTHS, seed=3)
    model = llama("flash_attention_2", torch.bfloat16).eval()
    with torch.no_grad():
        together, alone = packed_and_alone(model, "flash_attention_2", split)
        assert len(together) == len(alone) > 300
        assert torch.allclose(together, alone, atol=2e-2, rtol=0), (together - alone).abs().max()
        packed = Collator(split, 512, PAD, dynamic=False)(ROWS)
        inputs = model_inputs(packed, "flash_attention_2", packed=True, mask_dtype=torch.bfloat16, device="cuda")
        rows = torch.tensor([0, 512, 1024], dtype=torch.int32, device="cuda")
        inputs.update(cu_seq_lens_q=rows, cu_seq_lens_k=rows, max_length_q=512, max_length_k=512)
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
