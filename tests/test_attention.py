"""mft.attention: packed rows give every sample the losses it has alone, whatever the kernel;
kernels that cannot train here are refused at start-up with one line."""
from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from data_pipeline import Collator
from mft.attention import check_attention, model_inputs
from mft.config_loader import ConfigError
from test_data_collate import PAD, random_split, tiny_llama

LENGTHS = [7, 12, 5]


def labelled_losses(model, batch: dict, inputs: dict) -> torch.Tensor:
    """Cross entropy at the labelled positions, in order."""
    with torch.no_grad():
        logits = model(**inputs, use_cache=False).logits
    labels = batch["labels"]
    losses = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    return losses[labels != -100]


def packed_and_alone(model, attn: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Losses of three samples packed in one row (with a padding row) through `model` with `attn`'s
    inputs, and of each sample alone through the same weights under sdpa."""
    split = random_split(LENGTHS, seed=4)
    packed = Collator(split, 32, PAD, dynamic=False)([[0, 1, 2], None])  # 24 tokens + 8 padding
    together = labelled_losses(model, packed, model_inputs(packed, attn, packed=True, mask_dtype=torch.float32,
                                                           device="cpu"))
    reference, alone = tiny_llama("sdpa"), []
    reference.load_state_dict(model.state_dict())
    for i in range(len(LENGTHS)):
        batch = Collator(split, 32, PAD)([[i]])
        alone.append(labelled_losses(reference, batch, model_inputs(batch, "sdpa", packed=False,
                                                                    mask_dtype=torch.float32, device="cpu")))
    return together, torch.cat(alone)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_losses_equal_unpacked_with_the_additive_mask(attn):
    together, alone = packed_and_alone(tiny_llama(attn), attn)
    assert len(together) == len(alone) > 10
    assert torch.allclose(together, alone, atol=1e-5, rtol=0)


def test_packed_losses_equal_unpacked_with_flex_attention_forward_on_cpu():
    """flex attention runs forward on CPU (compiled once, ~10-50 s), not backward: checked in no_grad."""
    model = tiny_llama("flex_attention")
    together, alone = packed_and_alone(model, "flex_attention")
    assert len(together) == len(alone) > 10
    assert torch.allclose(together, alone, atol=1e-5, rtol=0)
    # the same model over a padding-style input (one causal block per row) leaks across samples
    split = random_split(LENGTHS, seed=4)
    packed = Collator(split, 32, PAD, dynamic=False)([[0, 1, 2], None])
    leaky = dict(packed, segment_ids=(packed["segment_ids"] > 0).long())
    leaked = labelled_losses(model, packed, model_inputs(leaky, "flex_attention", packed=True,
                                                         mask_dtype=torch.float32, device="cpu"))
    assert (leaked - alone).abs().max() > 1e-3


def varlen_reference_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """flash-attn's varlen contract in plain torch: causal attention within each [cu[i], cu[i+1]) of
    the flattened batch; refuses to run without the cumulative lengths."""
    cu, longest = kwargs["cu_seq_lens_q"], kwargs["max_length_q"]
    assert torch.equal(cu, kwargs["cu_seq_lens_k"]) and attention_mask is None
    assert longest == int(cu.diff().max())
    batch, heads, length, dim = query.shape
    key = key.repeat_interleave(heads // key.shape[1], dim=1)
    value = value.repeat_interleave(heads // value.shape[1], dim=1)
    q, k, v = (t.transpose(0, 1).reshape(heads, batch * length, dim) for t in (query, key, value))
    out = torch.cat([F.scaled_dot_product_attention(q[:, s:e], k[:, s:e], v[:, s:e], is_causal=True, scale=scaling)
                     for s, e in zip(cu[:-1].tolist(), cu[1:].tolist())], dim=1)
    return out.reshape(heads, batch, length, dim).permute(1, 2, 0, 3), None


def test_flash_inputs_carry_the_sample_boundaries_to_the_attention_layers():
    """flash-attn is not installable without CUDA; a plain-torch kernel with its varlen contract
    checks that model_inputs' cumulative lengths reach every layer and separate the samples."""
    from transformers import AttentionInterface

    AttentionInterface.register("varlen_reference", varlen_reference_attention)
    together, alone = packed_and_alone(tiny_llama("varlen_reference"), "flash_attention_2")
    assert len(together) == len(alone) > 10
    assert torch.allclose(together, alone, atol=1e-5, rtol=0)


def test_flash_cumulative_lengths_by_hand():
    batch = Collator(random_split([3, 2, 4], seed=1), 8, PAD, dynamic=False)([[0, 1], [2]])
    inputs = model_inputs(batch, "flash_attention_2", packed=True, mask_dtype=torch.float32, device="cpu")
    # row 0: samples of 3 and 2 tokens, 3 padding positions; row 1: 4 tokens, 4 padding positions
    assert inputs["cu_seq_lens_q"].tolist() == [0, 3, 5, 6, 7, 8, 12, 13, 14, 15, 16]
    assert inputs["cu_seq_lens_q"].dtype == torch.int32 and inputs["max_length_q"] == 4
    assert "attention_mask" not in inputs
    padded = model_inputs(batch, "flash_attention_2", packed=False, mask_dtype=torch.float32, device="cpu")
    assert torch.equal(padded["attention_mask"], batch["attention_mask"]) and "cu_seq_lens_q" not in padded


def test_kernels_that_cannot_train_here_are_refused_with_one_line(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    check_attention("sdpa", "fp32", cpu)
    check_attention("eager", "bf16", cpu)
    check_attention("flex_attention", "fp32", cuda)
    with pytest.raises(ConfigError, match=r"^model.attn_implementation: flash_attention_2 needs a CUDA GPU .*use sdpa"):
        check_attention("flash_attention_2", "bf16", cpu)
    with pytest.raises(ConfigError, match=r"^model.attn_implementation: flex_attention cannot train on cpu.*use sdpa"):
        check_attention("flex_attention", "fp32", cpu)
    installed = importlib.util.find_spec("flash_attn") is not None
    if not installed:
        with pytest.raises(ConfigError, match=r"needs the flash-attn package.*use flex_attention"):
            check_attention("flash_attention_2", "bf16", cuda)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "flash_attn" else None)
    check_attention("flash_attention_2", "bf16", cuda)
    with pytest.raises(ConfigError, match=r"flash_attention_2 runs in bf16 only; set model.dtype to bf16"):
        check_attention("flash_attention_2", "fp32", cuda)
