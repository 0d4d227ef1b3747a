"""plan_rows, Collator and block_causal_mask: samples survive collation intact, nothing crosses samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from data_pipeline import Collator, DataError, TokenizedSplit, block_causal_mask, plan_rows
from data_pipeline.packing import first_fit

PAD = 0


def random_split(lengths: list[int], num_tasks: int = 3, seed: int = 0, vocab: int = 320) -> TokenizedSplit:
    """Samples with random tokens (4..vocab) and a random prompt/answer boundary."""
    rng = np.random.default_rng(seed)
    samples, task_ids = [], []
    for i, n in enumerate(lengths):
        ids = rng.integers(4, vocab, size=n)
        mask = np.zeros(n, dtype=np.uint8)
        mask[rng.integers(1, n) if n > 1 else 0 :] = 1
        samples.append((ids, mask))
        task_ids.append(i % num_tasks)
    return TokenizedSplit.from_samples(samples, task_ids, num_tasks)


def check_rows(split: TokenizedSplit, rows: list, batch: dict, seq_length: int) -> None:
    """Rebuild every sample from its collated row and check every tensor against it."""
    for b, row in enumerate(rows):
        start = 0
        for segment, index in enumerate(row or [], start=1):
            ids, mask, task = split[index]
            end = start + len(ids)
            where = slice(start, end)
            assert batch["segment_ids"][b, where].tolist() == [segment] * len(ids)
            assert batch["input_ids"][b, where].tolist() == ids.tolist()
            assert batch["position_ids"][b, where].tolist() == list(range(len(ids)))
            assert batch["attention_mask"][b, where].tolist() == [1] * len(ids)
            expected = [int(ids[p + 1]) if mask[p + 1] else -100 for p in range(len(ids) - 1)] + [-100]
            assert batch["labels"][b, where].tolist() == expected  # the last token never predicts the next sample
            assert batch["task_ids"][b, where].tolist() == [task if y != -100 else -100 for y in expected]
            start = end
        rest = slice(start, seq_length)
        assert (batch["input_ids"][b, rest] == PAD).all() and (batch["labels"][b, rest] == -100).all()
        assert (batch["task_ids"][b, rest] == -100).all() and (batch["segment_ids"][b, rest] == 0).all()
        assert (batch["attention_mask"][b, rest] == 0).all() and (batch["position_ids"][b, rest] == 0).all()


def test_padding_mode_rows_and_batch():
    split = random_split([5, 9, 1, 16])
    rows = plan_rows(split, "padding", 16, seed=3)
    assert rows == [[0], [1], [2], [3]]
    batch = Collator(split, 16, PAD)(rows + [None])
    assert {k: (tuple(v.shape), v.dtype) for k, v in batch.items()} == {
        k: ((5, 16), torch.long) for k in ("input_ids", "labels", "task_ids", "position_ids", "segment_ids", "attention_mask")
    }
    check_rows(split, rows + [None], batch, 16)
    learned = sum(int(split[i][1][1:].sum()) for i in range(len(split)))
    assert int((batch["labels"] != -100).sum()) == learned


def test_pack_mode_rows_and_batch():
    split = random_split([5, 9, 3, 12, 7, 2, 8, 4, 6, 10], seed=1)
    rows = plan_rows(split, "pack", 16, seed=7)
    assert sorted(i for row in rows for i in row) == list(range(len(split)))
    assert all(sum(int(split.lengths[i]) for i in row) <= 16 for row in rows)
    assert any(len(row) > 1 for row in rows) and len(rows) < len(split)
    assert rows == plan_rows(split, "pack", 16, seed=7) and rows != plan_rows(split, "pack", 16, seed=8)
    batch = Collator(split, 16, PAD)(rows + [None])
    check_rows(split, rows + [None], batch, 16)


@settings(max_examples=40, deadline=None, database=None)
@given(st.lists(st.integers(1, 24), min_size=1, max_size=40), st.integers(0, 2**31))
def test_first_fit_partitions_every_sample_once(lengths, seed):
    split = random_split(lengths)
    rows = plan_rows(split, "pack", 24, seed)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    loads = [sum(lengths[i] for i in row) for row in rows]
    assert max(loads) <= 24
    assert sum(1 for load in loads if load <= 12) <= 1  # first-fit leaves at most one row at most half full


def test_first_fit_uses_the_earliest_row_with_room():
    assert first_fit([0, 1, 2, 3], [10, 10, 5, 7], 16) == [[0, 2], [1], [3]]  # next-fit would give [[0], [1, 2], [3]]


def test_plan_rows_rejects_samples_longer_than_rows():
    with pytest.raises(DataError, match=r"sample 1 has 20 tokens, more than seq_length=16"):
        plan_rows(random_split([4, 20]), "pack", 16, seed=0)


def test_block_causal_mask_by_hand():
    segments = torch.tensor([[1, 1, 2, 2, 2, 0]])
    mask = block_causal_mask(segments, torch.float32)
    allowed = [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],  # padding query: only its own diagonal, so no fully masked row
    ]
    expected = torch.where(torch.tensor(allowed, dtype=torch.bool), 0.0, torch.finfo(torch.float32).min)
    assert mask.shape == (1, 1, 6, 6) and mask.dtype == torch.float32
    assert torch.equal(mask[0, 0], expected)
    half = block_causal_mask(segments, torch.bfloat16)
    assert half.dtype == torch.bfloat16 and half.min() == torch.finfo(torch.bfloat16).min


def tiny_llama(attn: str):
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(
        vocab_size=320,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation=attn).float().eval()


def token_losses(model, batch: dict, attention_mask=None) -> torch.Tensor:
    """Per-token cross entropy at the labelled positions, in order."""
    with torch.no_grad():
        logits = model(
            input_ids=batch["input_ids"],
            position_ids=batch["position_ids"],
            attention_mask=attention_mask,
            use_cache=False,
        ).logits
    labels = batch["labels"]
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    return losses[labels != -100]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_row_losses_equal_separate_runs(attn):
    model = tiny_llama(attn)
    lengths = [7, 12, 5]
    split = random_split(lengths, seed=4)
    seq_length = 32  # 24 tokens + 8 padding
    packed = Collator(split, seq_length, PAD)([[0, 1, 2], None])
    mask = block_causal_mask(packed["segment_ids"], torch.float32)
    together = token_losses(model, packed, mask)
    alone = torch.cat([token_losses(model, Collator(split, n, PAD)([[i]])) for i, n in enumerate(lengths)])
    assert len(together) == len(alone) > 10
    assert torch.allclose(together, alone, atol=1e-5, rtol=0)
    assert torch.isfinite(mask).all() and not torch.isnan(together).any()
    # the test can fail: one causal block over the whole row lets later samples see earlier ones
    leaky = token_losses(model, packed, block_causal_mask((packed["segment_ids"] > 0).long(), torch.float32))
    assert (leaky - alone).abs().max() > 1e-3


def test_dynamic_padding_pads_to_the_longest_row_rounded_up_to_8():
    split = random_split([5, 9, 1, 16, 30])
    collate = Collator(split, 30, PAD)
    for rows, length in [([[0], [2]], 8), ([[1], None], 16), ([[3]], 16), ([[0, 1], [2]], 16),
                         ([[4], [0]], 30), ([None, None], 8)]:  # 30: at most seq_length, even if not a multiple of 8
        batch = collate(rows)
        assert collate.length(rows) == length
        assert {tuple(v.shape) for v in batch.values()} == {(len(rows), length)}
        check_rows(split, rows, batch, length)
    assert Collator(split, 30, PAD, dynamic=False)([[0], [2]])["input_ids"].shape == (2, 30)
    assert Collator(split, 30, PAD, multiple=1)([[0], [2]])["input_ids"].shape == (2, 5)


@pytest.mark.parametrize("mode", ["padding", "pack"])
def test_task_losses_do_not_depend_on_the_padding_length(mode):
    from mft.losses import task_loss_sums, task_token_counts
    from mft.losses import token_losses as position_losses

    model = tiny_llama("sdpa")
    split = random_split([7, 12, 5, 9], num_tasks=3, seed=6)
    rows = [[0], [1], [2], [3]] if mode == "padding" else [[0, 1], [2, 3]]

    def task_means(collate: Collator) -> tuple[torch.Tensor, int]:
        batch = collate(rows)
        mask = (block_causal_mask(batch["segment_ids"], torch.float32) if mode == "pack"
                else batch["attention_mask"])
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                           attention_mask=mask, use_cache=False).logits
        sums = task_loss_sums(position_losses(logits, batch["labels"]), batch["task_ids"], 3)
        return sums.double() / task_token_counts(batch["task_ids"], 3), batch["input_ids"].shape[1]

    fixed, fixed_length = task_means(Collator(split, 64, PAD, dynamic=False))
    dynamic, dynamic_length = task_means(Collator(split, 64, PAD))
    assert (fixed_length, dynamic_length) == (64, 16 if mode == "padding" else 24)
    assert torch.isfinite(fixed).all() and torch.allclose(fixed, dynamic, atol=1e-6, rtol=0)
