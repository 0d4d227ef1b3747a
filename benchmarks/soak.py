"""Soak: a long 2-rank demo run with frequent checkpoints keeps disk use bounded and memory flat.

    python benchmarks/soak.py [--steps 2000] [--checkpoint-every 50] [--keep-last 3]

Samples the checkpoint folder's size while the run goes, and fits the slope of rank 0's resident
memory (`rss_mb` in metrics.jsonl) against the step over the second half of the run.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading

import numpy as np

from _runs import train


def folder_mb(path: str) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:  # removed by retention while we walk
                pass
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--keep-last", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "soak")
        sizes: list[float] = []
        done = threading.Event()

        def watch() -> None:
            while not done.wait(1.0):
                sizes.append(folder_mb(os.path.join(out, "checkpoints")))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        metrics = train(out, [f"training.max_steps={args.steps}", f"checkpoint.interval={args.checkpoint_every}",
                              f"checkpoint.keep_last={args.keep_last}", "validation.interval=250",
                              "logging.tensorboard=false", "logging.interval=10"])
        done.set()
        watcher.join()
        kept = sorted(os.listdir(os.path.join(out, "checkpoints")))
        rss = [(r["step"], r["rss_mb"]) for r in metrics if r.get("rss_mb") is not None]
        half = [(s, m) for s, m in rss if s > args.steps // 2]
        slope = float(np.polyfit([s for s, _ in half], [m for _, m in half], 1)[0])
        steps_kept = [k for k in kept if k.startswith("step_")]  # beside them: the `latest` pointer
        one = folder_mb(os.path.join(out, "checkpoints", steps_kept[-1]))
        result = {"steps": args.steps, "checkpoints_kept": steps_kept,
                  "checkpoint_mb_max": round(max(sizes), 2), "one_checkpoint_mb": round(one, 2),
                  "rss_mb_start_of_second_half": round(half[0][1], 1), "rss_mb_end": round(rss[-1][1], 1),
                  "rss_slope_mb_per_1000_steps": round(1000 * slope, 3)}
    print(f"checkpoint folder at most {result['checkpoint_mb_max']} MB "
          f"(one checkpoint {result['one_checkpoint_mb']} MB, keep_last {args.keep_last} + best)")
    print(f"rank 0 resident memory {result['rss_mb_start_of_second_half']} -> {result['rss_mb_end']} MB over the "
          f"second half; slope {result['rss_slope_mb_per_1000_steps']} MB per 1000 steps")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
