"""Tokens/s and model FLOPs utilisation (MFU) of a 1B-class model on one GPU: uniform vs CoBa,
fast packed attention vs the additive mask, LoRA vs full fine-tuning.

    python benchmarks/gpu_step.py [--steps 40] [--seq-length 2048] [--micro-batch 8] [--runs uniform,coba,lora,packed_fast]

Trains a Llama-shaped ~1.1B model built from config (bf16, pack mode on the demo tasks,
seq_length 2048, ZeRO-1) through launch/train.py on one GPU once per run:
  uniform      uniform weighting, sdpa with the L x L additive block mask of pack mode
  coba         the same with CoBa (its validation forwards included)
  lora         uniform, LoRA r=8 on every linear layer (the base frozen)
  packed_fast  uniform, packed rows without the mask: flash_attention_2 (varlen) where flash-attn
               is installed, else flex_attention (a document block mask); see mft/attention.py
tokens/s is read from metrics.jsonl, scaled to the whole step. MFU = achieved FLOP/s / the card's
dense bf16 peak, with 6 N FLOPs per token for full training (4 N for LoRA: no weight gradients of
the frozen base) plus 12 * layers * hidden * seq_length for attention. Without a CUDA device it
prints that it skipped and exits 0. About 5 minutes on an H100/H200.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

from _runs import median, train

MODEL = {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
         "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 4096,
         "tie_word_embeddings": False}
LORA = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def peak_flops(name: str) -> float | None:
    override = os.environ.get("MFT_PEAK_FLOPS")
    if override:
        return float(override)
    return next((v for key, v in PEAK_BF16.items() if key in name), None)


def fast_packed_attention() -> str:
    """The attn_implementation that trains packed rows without an L x L mask on this machine."""
    import importlib.util
    return "flash_attention_2" if importlib.util.find_spec("flash_attn") else "flex_attention"


def run_overrides(name: str) -> list[str] | None:
    uniform = ["weighting.method=uniform", "weighting.params={}"]
    return {"uniform": uniform,
            "coba": ["weighting.method=coba", 'weighting.params={"history_window": 20, "warmup_steps": 5}'],
            "lora": uniform + [f"model.lora={json.dumps(LORA)}"],
            "packed_fast": uniform + [f"model.attn_implementation={fast_packed_attention()}"]}.get(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seq-length", type=int, default=2048)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--runs", default="uniform,coba,lora,packed_fast")
    args = parser.parse_args()
    import torch
    if not torch.cuda.is_available():
        print("no CUDA device: gpu_step skipped")
        print("RESULT " + json.dumps({"skipped": "no CUDA device"}))
        return
    from transformers import AutoConfig, AutoModelForCausalLM
    options = dict(MODEL)
    config = AutoConfig.for_model(options.pop("model_type"), vocab_size=320, **options)
    with torch.device("meta"):
        n_params = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
    attention_flops = 12 * MODEL["num_hidden_layers"] * MODEL["hidden_size"] * args.seq_length
    card = torch.cuda.get_device_name(0)
    peak = peak_flops(card)
    common = [f"model.tiny={json.dumps(MODEL)}", "model.dtype=bf16", "model.attn_implementation=sdpa",
              f"data.seq_length={args.seq_length}", "data.mode=pack", f"training.micro_batch_size={args.micro_batch}",
              f"training.max_steps={args.steps}", "training.lr=1e-4", "validation.interval=1000000",
              "checkpoint.interval=0", "logging.tensorboard=false", "logging.interval=5",
              "deepspeed={\"zero_optimization\": {\"stage\": 1}}"]
    result = {"gpu": card, "parameters": n_params}
    print(f"{card}: {n_params / 1e9:.2f}B parameters, seq {args.seq_length}, micro-batch {args.micro_batch}")
    print(f"{'run':>12} {'tokens/s':>10} {'MFU %':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.runs.split(","):
            overrides = run_overrides(name)
            if overrides is None:
                parser.error(f"--runs: unknown run {name!r}")
            metrics = train(os.path.join(tmp, name), common + overrides, ranks=1, gpu=True)
            # tokens_per_s counts the optimizer step alone; scale it to the whole step (controller included)
            tps = median(r["tokens_per_s"] * r["time_s"]["train_step"] / r["time_s"]["step"]
                         for r in metrics if "time_s" in r and r["step"] > 10)
            flops_per_token = (4 if name == "lora" else 6) * n_params + attention_flops
            mfu = tps * flops_per_token / peak if peak else None
            result[name] = {"tokens_per_s": round(tps), "mfu": mfu and round(mfu, 4)}
            if name == "packed_fast":
                result[name]["attn_implementation"] = fast_packed_attention()
            print(f"{name:>12} {tps:10.0f} {'' if mfu is None else f'{100 * mfu:6.1f}'}")
    for name, base in (("coba", "uniform"), ("lora", "uniform"), ("packed_fast", "uniform")):
        if "tokens_per_s" in result.get(name, {}) and "tokens_per_s" in result.get(base, {}):
            result[f"{name}_vs_{base}"] = round(result[name]["tokens_per_s"] / result[base]["tokens_per_s"], 3)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
