"""What CoBa costs over uniform weighting: step-time ratio at controller intervals 1, 4 and 16.

    python benchmarks/coba_overhead.py [--steps 150] [--repeats 3]

Runs the CPU demo (2 ranks, ZeRO-2) with `uniform` and with `coba` at update_interval 1, 4, 16,
interleaved and repeated; reads each step's wall time and its parts from metrics.jsonl
(`time_s`, the mean per step since the previous record: train_step, controller_forward,
controller_math, counts_allreduce). CoBa's validation loss sums travel in the all-reduce of the
token counts that every step does before its first backward, so its communication cost is what
that all-reduce takes beyond uniform's (waiting for the slower rank's controller forward
included). The target: ratio <= 1 + (validation tokens / training tokens) / 3 +
0.03 (a forward pass costs about a third of forward + backward), with the controller math and
its communication under 2%.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

from _runs import median, train

INTERVALS = (1, 4, 16)


def measure(metrics: list[dict], skip: int) -> dict:
    steps = [r for r in metrics if "time_s" in r][skip:]
    part = lambda name: sum(r["time_s"].get(name, 0.0) for r in steps) / len(steps)  # noqa: E731
    train_tokens = median(r["tokens_per_s"] * r["time_s"]["train_step"] for r in steps)
    return {"step": median(r["time_s"]["step"] for r in steps), "train_step": part("train_step"),
            "controller_forward": part("controller_forward"), "controller_math": part("controller_math"),
            "counts_allreduce": part("counts_allreduce"), "train_tokens": train_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg, valid_mean_tokens = demo_validation_tokens()
    common = [f"training.max_steps={args.steps}", "validation.interval=1000000", "checkpoint.interval=0",
              "logging.tensorboard=false", "logging.interval=5"]  # a record (and its timings) every 5th step
    variants = {"uniform": ["weighting.method=uniform", "weighting.params={}"]}
    for k in INTERVALS:
        variants[f"coba_k{k}"] = [f"weighting.update_interval={k}"]
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for name, overrides in variants.items():
                out = os.path.join(tmp, f"{name}_{rep}")
                runs[name].append(measure(train(out, common + overrides), skip=2))
    base = {key: median(r[key] for r in runs["uniform"]) for key in runs["uniform"][0]}
    result = {}
    print(f"{'variant':>10} {'step ms':>8} {'train ms':>8} {'ratio':>6} {'bound':>6} {'ctl fwd ms':>10} {'math ms':>8} {'allred ms':>9} {'comm ms':>8} {'math+comm %':>11}")
    for name in variants:
        m = {key: median(r[key] for r in runs[name]) for key in runs[name][0]}
        ratio = m["step"] / base["step"]
        k = int(name.split("_k")[1]) if "_k" in name else None
        bound = None
        if k:
            # validation tokens per step ~ (tasks x samples per task x mean tokens per sample) / k
            valid_tokens = len(cfg.data.tasks) * cfg.data.valid_samples_per_task * valid_mean_tokens / k
            bound = 1 + valid_tokens / base["train_tokens"] / 3 + 0.03
        comm = max(0.0, m["counts_allreduce"] - base["counts_allreduce"])  # CoBa's share of that all-reduce
        share = 100 * (m["controller_math"] + comm) / m["step"]
        print(f"{name:>10} {1e3 * m['step']:8.2f} {1e3 * m['train_step']:8.2f} {ratio:6.3f} {bound or float('nan'):6.3f} "
              f"{1e3 * m['controller_forward']:10.2f} {1e3 * m['controller_math']:8.3f} "
              f"{1e3 * m['counts_allreduce']:9.3f} {1e3 * comm:8.3f} {share:11.2f}")
        result[name] = {"ratio": round(ratio, 4), "bound": bound and round(bound, 4),
                        "controller_math_plus_comm_pct": round(share, 3), "step_ms": round(1e3 * m["step"], 3)}
    print("RESULT " + json.dumps(result))


def demo_validation_tokens():
    """The demo config and the mean token count of its validation samples (from the token cache)."""
    from data_pipeline import build_datasets
    from mft.config import load_config
    from mft.tokenizer import build_tokenizer, default_cache_dir

    from _runs import DEMO
    cfg = load_config(DEMO)
    tokenizer = build_tokenizer(cfg.model, cfg.data, default_cache_dir(), rank=0)
    data = build_datasets(cfg.data, tokenizer, cache_dir=default_cache_dir(), log=lambda *_: None)
    return cfg, float(data.valid.lengths.mean())


if __name__ == "__main__":
    main()
