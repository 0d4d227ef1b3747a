"""Pack mode vs padding mode (fixed and dynamic): how full the rows are, and useful tokens per second.

    .venv/bin/python benchmarks/packing.py              # about a minute and a half on 2 cores
    .venv/bin/python benchmarks/packing.py --reps 3     # shorter

Sample lengths are log-normal (median 200 tokens, sigma 1, truncated to 16..2048: about 1% of
the draws above 2048 are redrawn), seq_length 2048, a synthetic `TokenizedSplit` (random ids,
the first 20-50% of each sample a prompt with no loss).

1. Fill: `plan_rows(split, "pack", 2048, seed)` over 20,000 samples, for several seeds: the share
   of the rows' positions that hold a token. Target >= 95%.
   Padding mode over the same samples: every row padded to seq_length (`padding_fill`, the
   collator before dynamic padding), and padded per micro-batch to its longest row rounded up to
   8 (`dynamic_padding_fill`: one epoch of the trainer's sampler, --micro-batch rows per
   micro-batch, in random order and with data.group_by_length). Target: dynamic >= 3x fixed.
   A fixed mix (data.mixing, `--mix`, default 0.6,0.3,0.1 over the 3 tasks): pack mode packs each
   task apart (`plan_task_rows`) and `TaskMixSampler` draws rows in those proportions; the fill
   of the rows drawn over as many slots as there are rows (`mix_fill`), against pack mode over
   all tasks together. Target: within a point of it.
2. Throughput: a tiny Llama (the CPU demo's shape: hidden 64, 2 layers, 4 heads, fp32, sdpa) runs
   forward + backward of the mean per-token cross entropy on the SAME samples (those of the first
   --rows pack rows) three ways, 2 rows per batch, the modes' batches interleaved in every pass:
   - pack: the rows of `plan_rows(..., "pack")`, `block_causal_mask(segment_ids)` as the 4D
     additive mask and the collator's position_ids;
   - padding: one sample per row padded to seq_length (`Collator(..., dynamic=False)`), the 2D
     attention_mask;
   - dynamic: one sample per row, padded to the longest in its batch rounded up to 8 (the
     Collator's default).
   Useful tokens are the tokens with a loss (labels != -100); the timed part is collate, mask,
   forward and backward, each batch's median time over --reps passes (and its best, also shown).
   Target: pack >= 1.8x padding.
Ends with ``RESULT {json}``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from data_pipeline import (Collator, GlobalBatchSampler, TaskMixSampler, TokenizedSplit, block_causal_mask,
                           plan_rows, plan_task_rows, row_lengths)

SEQ = 2048
VOCAB = 320
PAD = 0
BATCH = 2  # rows per micro-batch in every mode


def lognormal_lengths(n: int, rng: np.random.Generator, median: float = 200.0, sigma: float = 1.0,
                      low: int = 16, high: int = SEQ) -> np.ndarray:
    """n lengths, log-normal with the given median, draws outside [low, high] redrawn."""
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        draw = np.rint(np.exp(rng.normal(np.log(median), sigma, 2 * n))).astype(np.int64)
        out = np.concatenate([out, draw[(draw >= low) & (draw <= high)]])
    return out[:n]


def synthetic_split(n: int, seed: int) -> TokenizedSplit:
    rng = np.random.default_rng(seed)
    samples, tasks = [], []
    for length in lognormal_lengths(n, rng):
        ids = rng.integers(4, VOCAB, length, dtype=np.int32)
        mask = np.zeros(length, dtype=np.uint8)
        mask[int(length * rng.uniform(0.2, 0.5)):] = 1  # prompt, then answer
        samples.append((ids, mask))
        tasks.append(int(rng.integers(0, 3)))
    return TokenizedSplit.from_samples(samples, tasks, num_tasks=3)


def fill(split: TokenizedSplit, rows: list[list[int]]) -> float:
    return split.num_tokens() / (len(rows) * SEQ)


def dynamic_fill(split: TokenizedSplit, micro_batch: int, group_by_length: bool, seed: int = 0) -> float:
    """Real tokens / padded positions over one epoch of padding-mode micro-batches from the
    trainer's sampler (1 rank, no accumulation), each padded as the Collator pads it."""
    rows = plan_rows(split, "padding", SEQ, seed)
    sampler = GlobalBatchSampler(len(rows), world_size=1, rank=0, micro_batch_size=micro_batch, grad_accum=1,
                                 seed=seed, drop_last=False,
                                 lengths=row_lengths(split, rows) if group_by_length else None)
    collate = Collator(split, SEQ, PAD)
    positions = 0
    for _ in range(sampler.steps_per_epoch):
        for micro in sampler.next_step():
            positions += len(micro) * collate.length([None if i is None else rows[i] for i in micro])
    return split.num_tokens() / positions


def mix_fill(split: TokenizedSplit, proportions: list[float], seed: int = 0, global_batch: int = 16) -> dict:
    """Pack-mode fill under a fixed mix: the share of the positions of the rows a `TaskMixSampler`
    draws (one row's worth of slots per row planned) that hold a token; also the fill of the plan."""
    rows, row_task = plan_task_rows(split, "pack", SEQ, seed)
    tokens = row_lengths(split, rows)
    sampler = TaskMixSampler(row_task, split.num_tasks, proportions, world_size=1, rank=0,
                             micro_batch_size=global_batch, grad_accum=1, seed=seed)
    drawn = [r for _ in range(sampler.steps_per_epoch) for r in sampler.global_batch()]
    return {"drawn": float(tokens[drawn].sum() / (len(drawn) * SEQ)), "plan": fill(split, rows),
            "realised": sampler.realised_proportions.round(4).tolist()}


def tiny_llama() -> torch.nn.Module:
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=SEQ,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").float().train()


def step(model, batch: dict, mode: str) -> int:
    """Forward + backward of the mean per-token CE; returns the number of loss tokens."""
    if mode == "pack":
        attention_mask = block_causal_mask(batch["segment_ids"], torch.float32)
    else:
        attention_mask = batch["attention_mask"]
    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                   attention_mask=attention_mask, use_cache=False).logits
    labels = batch["labels"]
    loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return int((labels != -100).sum())


def batches_for(mode: str, split: TokenizedSplit, pack_rows: list[list[int]]) -> list[tuple[Collator, list]]:
    """(collator, rows) per micro-batch of `mode`, over the samples of `pack_rows`."""
    if mode == "pack":
        rows = pack_rows
    else:
        rows = [[i] for row in pack_rows for i in row]
    collate = Collator(split, SEQ, PAD, dynamic=mode == "dynamic")
    return [(collate, rows[b:b + BATCH]) for b in range(0, len(rows), BATCH)]


def interleaved(plans: dict[str, list]) -> list[tuple[str, int]]:
    """(mode, batch index) of every batch, the modes spread evenly through one pass, so that a
    noisy neighbour on the machine slows every mode alike."""
    keyed = [((k + 0.5) / len(batches), mode, k) for mode, batches in plans.items() for k in range(len(batches))]
    return [(mode, k) for _, mode, k in sorted(keyed)]


def throughput(model, split: TokenizedSplit, pack_rows: list[list[int]], reps: int) -> dict:
    """Useful tokens/s of each mode: loss tokens of all its batches / the sum over its batches of
    each batch's median time over `reps` interleaved passes (per-batch medians shrug off the
    bursts of a shared machine better than per-pass totals); also from per-batch minima."""
    modes = ("pack", "padding", "dynamic")
    plans = {mode: batches_for(mode, split, pack_rows) for mode in modes}
    for mode in modes:  # warm-up: one batch each (allocator, kernels)
        collate, rows = plans[mode][0]
        step(model, collate(rows), "pack" if mode == "pack" else "padding")
    times = {mode: [[] for _ in plans[mode]] for mode in modes}
    useful = {mode: [0] * len(plans[mode]) for mode in modes}
    for _ in range(reps):
        for mode, k in interleaved(plans):
            collate, rows = plans[mode][k]
            t0 = time.perf_counter()
            useful[mode][k] = step(model, collate(rows), "pack" if mode == "pack" else "padding")
            times[mode][k].append(time.perf_counter() - t0)
    tokens = {mode: sum(useful[mode]) for mode in modes}
    assert tokens["pack"] == tokens["padding"] == tokens["dynamic"], tokens  # same samples, same loss tokens
    result = {}
    for mode in modes:
        median_s = sum(statistics.median(t) for t in times[mode])
        min_s = sum(min(t) for t in times[mode])
        result[mode] = {"useful_tokens_per_s": round(tokens[mode] / median_s, 1),
                        "useful_tokens_per_s_best": round(tokens[mode] / min_s, 1),
                        "batches": len(plans[mode]), "rows": sum(len(rows) for _, rows in plans[mode]),
                        "positions": sum(len(rows) * collate.length(rows) for collate, rows in plans[mode])}
    result["useful_tokens_per_pass"] = tokens["pack"]
    for other in ("padding", "dynamic"):
        result[f"pack_over_{other}"] = round(result["pack"]["useful_tokens_per_s"]
                                             / result[other]["useful_tokens_per_s"], 3)
        result[f"pack_over_{other}_best"] = round(result["pack"]["useful_tokens_per_s_best"]
                                                  / result[other]["useful_tokens_per_s_best"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000, help="samples in the fill measurement")
    parser.add_argument("--rows", type=int, default=6, help="pack rows in the throughput measurement")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mix", default="0.6,0.3,0.1", help="the fixed mix's proportions of the 3 tasks")
    parser.add_argument("--fill-only", action="store_true", help="skip the throughput measurement")
    parser.add_argument("--micro-batch", type=int, default=4,
                        help="rows per micro-batch in the dynamic padding fill (the paper configs' padding runs: 4-5)")
    args = parser.parse_args()
    torch.set_num_threads(2)

    split = synthetic_split(args.samples, seed=0)
    lengths = np.asarray(split.lengths)
    fills, plan_s = [], []
    for seed in range(5):
        t0 = time.perf_counter()
        rows = plan_rows(split, "pack", SEQ, seed)
        plan_s.append(time.perf_counter() - t0)
        fills.append(fill(split, rows))
    padding_fill = fill(split, plan_rows(split, "padding", SEQ, 0))
    dynamic = {"random": dynamic_fill(split, args.micro_batch, group_by_length=False),
               "group_by_length": dynamic_fill(split, args.micro_batch, group_by_length=True)}
    print(f"lengths: median {np.median(lengths):.0f}, mean {lengths.mean():.0f}, "
          f"p99 {np.percentile(lengths, 99):.0f}, max {lengths.max()}; {len(split)} samples, "
          f"{split.num_tokens()} tokens")
    print(f"fill: pack {min(fills):.4f}..{max(fills):.4f} over 5 seeds ({statistics.median(plan_s):.2f} s to plan), "
          f"padding {padding_fill:.4f}")
    print(f"dynamic padding fill, {args.micro_batch} rows per micro-batch: random order {dynamic['random']:.4f} "
          f"({dynamic['random'] / padding_fill:.2f}x), grouped by length {dynamic['group_by_length']:.4f} "
          f"({dynamic['group_by_length'] / padding_fill:.2f}x)")
    mix = [float(x) for x in args.mix.split(",")]
    mixed = mix_fill(split, mix)
    print(f"fill, fixed mix {args.mix} in pack mode (each task packed apart): rows drawn {mixed['drawn']:.4f}, "
          f"plan {mixed['plan']:.4f}, realised mix {mixed['realised']}; all tasks packed together {fills[0]:.4f}")
    result = {"pack_fill_min": round(min(fills), 4), "mix": mix, "mix_fill": {k: v if isinstance(v, list)
                                                                            else round(v, 4) for k, v in mixed.items()},
              "targets": {"mix_fill_within_0.01": mixed["drawn"] >= fills[0] - 0.01}}
    if args.fill_only:
        print("RESULT " + json.dumps(result))
        return

    rows = plan_rows(split, "pack", SEQ, 0)[:args.rows]  # the first rows of a real plan (seed 0)
    model = tiny_llama()
    tp = throughput(model, split, rows, args.reps)
    for mode in ("pack", "padding", "dynamic"):
        print(f"{mode:8s} {tp[mode]['useful_tokens_per_s']:9.1f} useful tokens/s "
              f"(best {tp[mode]['useful_tokens_per_s_best']:9.1f}) over {tp[mode]['rows']} rows, "
              f"{tp[mode]['positions']} positions")
    print(f"pack / padding {tp['pack_over_padding']:.2f}x (best {tp['pack_over_padding_best']:.2f}x), "
          f"pack / dynamic padding {tp['pack_over_dynamic']:.2f}x (best {tp['pack_over_dynamic_best']:.2f}x)")

    result = {**result, "loadavg_1min_at_end": os.getloadavg()[0],  # other jobs on this shared machine
              "seq_length": SEQ, "samples": len(split), "length_median": float(np.median(lengths)),
              "length_mean": round(float(lengths.mean()), 1), "length_max": int(lengths.max()),
              "pack_fill_min": round(min(fills), 4), "pack_fill_by_seed": [round(f, 4) for f in fills],
              "padding_fill": round(padding_fill, 4),
              "dynamic_padding_fill": {k: round(v, 4) for k, v in dynamic.items()},
              "dynamic_padding_micro_batch": args.micro_batch, "plan_rows_s": round(statistics.median(plan_s), 3),
              "batch_rows": BATCH, "reps": args.reps, "throughput": tp,
              "targets": {**result["targets"], "pack_fill_ge_0.95": min(fills) >= 0.95,
                          "pack_over_padding_ge_1.8": tp["pack_over_padding"] >= 1.8,
                          "dynamic_fill_ge_3x_padding": {k: v >= 3 * padding_fill for k, v in dynamic.items()}}}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
