"""Do CoBa's slopes stand above the noise of its per-step validation losses? (issue 11)

    python benchmarks/controller_noise.py runs/finetune_uniform --samples 16 --valid-size 200
    python benchmarks/controller_noise.py docs/results/finetune_cpu/controller_noise/s8.metrics.jsonl.gz \
        --samples 8 --valid-size 200 --phases 0,30,100,160,300 --candidates 4,8,16,32

Reads a run's metrics.jsonl (a run folder, or the file itself; plain or gzipped), logged at every
step with the controller's validation losses (a CoBa run with `weighting.params.warmup_steps`
beyond the run keeps uniform weights and logs them; `logging.interval=1`). Per task and phase of the run:
- trend: the loss's slope per step, from the full validation (every record, so nearly noiseless);
- sigma: the noise of one controller loss, std of its step-to-step differences / sqrt 2 (the
  slow trend cancels in a difference);
- z(N): |trend| / standard error of an OLS slope over N points with that noise,
  sigma * sqrt(12 / (N (N^2 - 1))) (Sec. 3: alpha_i is a least-squares slope over the last N
  steps), for the measured samples per task and for others (sigma scaled by sqrt(measured / s),
  independent samples), with N = 2M, M = ceil(valid_size / s) (the paper's rule, Sec. 3).
- agree: the share of the run's N-step windows (measured s) whose OLS slope has the trend's sign.
A slope with z < 2 is noise as often as not: the controller then ranks tasks by chance.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np

from mft.experiments.run_logs import read_jsonl_file, read_log
from mft.weighting.coba_math import ols_slope


def read(run: str) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The controller losses and the full validation losses, per task, with their steps."""
    records = read_log(run, "metrics") if os.path.isdir(run) else read_jsonl_file(run)
    ctl = [r for r in records if "controller_valid_loss" in r]
    full = [r for r in records if "valid_loss" in r]
    tasks = list(ctl[0]["controller_valid_loss"])
    ctl_steps = np.array([r["step"] for r in ctl])
    full_steps = np.array([r["step"] for r in full])
    return ({t: np.array([r["controller_valid_loss"][t] for r in ctl]) for t in tasks}, ctl_steps,
            {t: np.array([r["valid_loss"][t] for r in full]) for t in tasks}, full_steps)


def slope_se(sigma: float, n: int) -> float:
    return sigma * math.sqrt(12.0 / (n * (n * n - 1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder with metrics.jsonl(.gz), or such a file")
    parser.add_argument("--samples", type=int, required=True, help="data.valid_samples_per_task of the run")
    parser.add_argument("--valid-size", type=int, required=True, help="largest validation split (records)")
    parser.add_argument("--phases", default="0,60,150,1000000", help="phase boundaries in steps")
    parser.add_argument("--candidates", default="8,16,32,64", help="samples per task to predict z for")
    args = parser.parse_args(argv)
    ctl, ctl_steps, full, full_steps = read(args.run)
    bounds = [int(b) for b in args.phases.split(",")]
    candidates = [int(s) for s in args.candidates.split(",")]
    m = math.ceil(args.valid_size / args.samples)
    n_measured = 2 * m
    print(f"measured: {args.samples} samples per task, M = {m}, N = 2M = {n_measured}; "
          f"{len(ctl_steps)} controller steps, {len(full_steps)} full validations")
    header = ["task", "steps", "trend/step", "sigma", f"agree(N={n_measured})"]
    header += [f"z(s={s},N={2 * math.ceil(args.valid_size / s)})" for s in candidates]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    result = {}
    for task in ctl:
        for lo, hi in zip(bounds, bounds[1:]):
            in_ctl = (ctl_steps > lo) & (ctl_steps <= hi)
            in_full = (full_steps >= lo) & (full_steps <= hi)
            if in_ctl.sum() < n_measured or in_full.sum() < 2:
                continue
            trend = ols_slope(full[task][in_full], full_steps[in_full])
            sigma = float(np.std(np.diff(ctl[task][in_ctl])) / math.sqrt(2))
            series = ctl[task][in_ctl]
            windows = [ols_slope(series[i:i + n_measured]) for i in range(len(series) - n_measured + 1)]
            agree = float(np.mean(np.sign(windows) == np.sign(trend)))
            zs = {}
            for s in candidates:
                n = 2 * math.ceil(args.valid_size / s)
                zs[s] = abs(trend) / slope_se(sigma * math.sqrt(args.samples / s), n)
            span = f"{lo}-{min(hi, int(ctl_steps.max()))}"
            row = [task, span, f"{trend:+.2e}", f"{sigma:.3f}", f"{agree:.2f}"] + [f"{zs[s]:.1f}" for s in candidates]
            print("| " + " | ".join(row) + " |")
            result[f"{task}:{span}"] = {"trend": trend, "sigma": sigma, "agree": agree, "z": zs}
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
