"""Peak resident memory per rank of a ~100M-parameter model on 2 (or --ranks) CPU ranks under ZeRO-0, 2 and 3.

    python benchmarks/zero_memory.py [--ranks 4] [--dtype fp32] [--steps 3] [--stages 0,2,3]

Each stage loads, trains (a few steps) and exports (`best/`) the same Llama-shaped model (built
from config) through the deepspeed launcher, in bf16 as every paper config trains (`--dtype fp32`
for full precision). It reports the peak RSS (VmHWM, so load, training and export all count) of
the largest rank (`peak_rss_mb` in summary.json), rank 0's resident memory after the last step
(`rss_mb` in metrics.jsonl), and each peak's ratio to ZeRO-0's. Targets: ZeRO-3 at most 0.6 x
ZeRO-0 on 2 ranks, 0.4 x on 4. With MFT_MEMORY_TRACE=1 each rank's resident memory, peak and
live tensors (by dtype) are printed per phase.

Mixed-precision AdamW keeps 16 bytes a parameter without sharding (bf16 weights and gradients, an
fp32 master copy, two fp32 moments); ZeRO-2 shards all but the weights over the ranks, ZeRO-3 the
weights too. Measured (2 steps, bf16): ZeRO-0 2,338 MB; ZeRO-3 1,313 MB on 2 ranks (0.56 x) and
925 MB on 4 (0.40 x). What stays resident under ZeRO-3 on 4 ranks (856 MB after training): 292 MB of
process before the model (Python, torch, DeepSpeed, transformers), 383 MB of tensors (exactly a
quarter of the 16 bytes a parameter) and about 180 MB of code and heap that building the model
and DeepSpeed's engine add; ZeRO-0 carries the same ~90 MB of model-building code.

In fp32 the ratios are 0.67 x (2 ranks) and 0.50 x (4): ZeRO-3 then still keeps a separate fp32
master copy of each rank's partition beside the module's own fp32 partition (DeepSpeed clones it),
while ZeRO-0's plain fp32 AdamW needs no master copy; 20 bytes a parameter are sharded against 16
unsharded, so 0.6 x is out of reach on 2 ranks once the fixed ~470 MB is added.

Settings that make the measurement show the model states rather than allocator slack: small
DeepSpeed buckets, 2e6 elements for reduction, live or prefetched parameters, and ZeRO-3's
optimizer sub-groups (the defaults, 5e8 elements for reduction, a live-parameter cap of 1e9 and
`sub_group_size` 1e9, exceed this whole model; the optimizer step's temporaries, an fp32 copy of a
sub-group's gradients and Adam's square root, are a few sub-groups in size: 570 MB of a 2,003 MB
fp32 peak with the default, about 120 MB with 1e7, about 20 MB with 2e6), and
MALLOC_MMAP_THRESHOLD_=65536, so that freed tensors go back to the system instead of staying in
glibc's heap. Under ZeRO-3 the model is built partitioned (zero.Init) and exported a parameter at
a time, so no rank holds it whole.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

from _runs import train

MODEL = {"model_type": "llama", "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 14,
         "num_attention_heads": 12, "num_key_value_heads": 12, "max_position_embeddings": 256,
         "tie_word_embeddings": True}


BUCKET = int(2e6)
LEAN = {
    0: {"zero_optimization": {"stage": 0}},
    2: {"zero_optimization": {"stage": 2, "reduce_bucket_size": BUCKET, "allgather_bucket_size": BUCKET}},
    3: {"zero_optimization": {"stage": 3, "sub_group_size": BUCKET, "reduce_bucket_size": BUCKET, "stage3_prefetch_bucket_size": BUCKET,
                              "stage3_max_live_parameters": BUCKET, "stage3_param_persistence_threshold": int(1e4)}},
}


def parameter_count() -> int:
    from transformers import AutoConfig, AutoModelForCausalLM
    import torch
    options = dict(MODEL)
    config = AutoConfig.for_model(options.pop("model_type"), vocab_size=320, **options)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--stages", default="0,2,3")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    args = parser.parse_args()
    n = parameter_count()
    result = {"parameters": n, "ranks": args.ranks, "peak_rss_mb": {}, "rss_after_training_mb": {}}
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")  # the ranks inherit it
    print(f"model: {n / 1e6:.1f}M parameters, {args.dtype}; AdamW states without sharding, 16 bytes a parameter: "
          f"{16 * n / 2**20:.0f} MB per rank")
    with tempfile.TemporaryDirectory() as tmp:
        for stage in map(int, args.stages.split(",")):
            out = os.path.join(tmp, f"zero{stage}")
            train(out, [f"model.tiny={json.dumps(MODEL)}", f"deepspeed={json.dumps(LEAN[stage])}",
                        f"training.max_steps={args.steps}", f"model.dtype={args.dtype}", "training.micro_batch_size=1", "data.valid_samples_per_task=1",
                        "validation.interval=1000000", "checkpoint.interval=0", "logging.tensorboard=false",
                        'weighting.method=uniform', 'weighting.params={}'], ranks=args.ranks)
            with open(os.path.join(out, "summary.json")) as f:
                peak = json.load(f)["peak_rss_mb"]
            with open(os.path.join(out, "metrics.jsonl")) as f:
                steady = [json.loads(line) for line in f if '"rss_mb"' in line][-1]["rss_mb"]
            trace = os.path.join(out, "memory_trace.jsonl")
            if os.path.exists(trace):  # MFT_MEMORY_TRACE=1: resident memory and peak at each phase
                with open(trace) as f:
                    for r in sorted((json.loads(line) for line in f), key=lambda r: r["rank"]):
                        tensors = ", ".join(f"{k} {v:.0f}" for k, v in r["tensors_mb"].items() if v >= 1)
                        print(f"  ZeRO-{stage} rank {r['rank']} {r['phase']:<28} RSS {r['rss_mb']:7.1f} MB, "
                              f"peak during it {r['peak_mb']:7.1f} MB; tensors {sum(r['tensors_mb'].values()):6.1f} MB ({tensors})")
            result["peak_rss_mb"][f"zero{stage}"] = round(peak, 1)
            result["rss_after_training_mb"][f"zero{stage}"] = round(steady, 1)
            print(f"ZeRO-{stage}: peak resident memory per rank {peak:8.1f} MB, after the last step {steady:8.1f} MB")
    base = result["peak_rss_mb"].get("zero0")
    if base:
        result["peak_ratio_to_zero0"] = {k: round(v / base, 3) for k, v in result["peak_rss_mb"].items()}
        print("peak / ZeRO-0's: " + ", ".join(f"{k} {v:.2f}" for k, v in result["peak_ratio_to_zero0"].items()))
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
