"""Cost of one CoBa controller update as training grows.

    python benchmarks/controller_scaling.py            # t up to 1e5, a few minutes on 2 busy cores
    python benchmarks/controller_scaling.py --quick    # t up to 1e4

K = 9 tasks, N = 400, W = 200 (the paper's N = 2M, W = M with M = 200 validation batches),
tau = 5, both variants. Each controller is fed synthetic validation losses (noisy power-law decay,
one task turning upward now and then) up to t, then timed over single updates. The divergence
factor sums over the whole history since warm-up in one O(n) pass; the figures split an update
into that pass ("df_pass") and the rest.

Target: an update under 1 ms at t = 1e5 (the median of REPS blocks; the tail percentiles are
printed too, but on a shared machine they measure the scheduler more than the update).
Ends with ``RESULT {json}``.
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import time

import numpy as np

from mft.weighting import Signals, build_weighting
from mft.weighting import coba_math as cm

K, N, W, TAU = 9, 400, 200, 5.0
REPS, PER_REP = 7, 200  # at each t: copies of the controller timed, updates timed on each
TARGET_US = 1000.0


class Losses:
    """Per-task validation losses: l0 * (1 + t / T)^-p with 2% multiplicative noise, and a task
    whose loss drifts upward for 300 steps every 5000 (so DF sees divergence, not only calm)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.l0 = self.rng.uniform(1.5, 3.5, K)
        self.scale = self.rng.uniform(200, 2000, K)
        self.power = self.rng.uniform(0.2, 0.6, K)
        self.t = 0

    def next(self) -> np.ndarray:
        t = self.t
        loss = self.l0 * (1 + t / self.scale) ** -self.power
        loss *= 1 + 0.02 * self.rng.standard_normal(K)
        if t % 5000 > 4700:
            loss[(t // 5000) % K] *= 1 + 0.001 * (t % 5000 - 4700)
        self.t += 1
        return loss


def run_variant(variant: str, points: list[int]) -> dict:
    losses = Losses()
    ctl = build_weighting("coba", num_tasks=K, history_window=N, warmup_steps=W, tau=TAU, variant=variant)
    if variant == "mftcoder":
        ctl.start(losses.l0)
    out = {}
    for t_target in points:
        tail_from = ctl.t + (t_target - ctl.t) * 9 // 10
        tail = []
        gc.disable()
        while ctl.t < t_target:
            row, timed = losses.next(), ctl.t >= tail_from
            t0 = time.perf_counter()
            ctl.update(Signals(val_losses=row))
            if timed:
                tail.append(time.perf_counter() - t0)
        rows = [losses.next() for _ in range(PER_REP)]
        medians = []
        for _ in range(REPS):  # copies replay the same updates: the median of each block
            clone = copy.deepcopy(ctl)
            block = []
            for row in rows:
                t0 = time.perf_counter()
                clone.update(Signals(val_losses=row))
                block.append(time.perf_counter() - t0)
            medians.append(float(np.median(block)))
        history = np.asarray(ctl.state_dict()["df_history"])
        passes = []
        for _ in range(REPS * 10):
            t0 = time.perf_counter()
            cm.n_times_last_softmax(history, TAU, float(np.abs(history).sum()))
            passes.append(time.perf_counter() - t0)
        gc.enable()
        tail_us = np.array(tail) * 1e6
        entry = {"n_df_history": int(history.size),
                 "median_us": round(float(np.median(medians)) * 1e6, 1),
                 "rep_medians_us": [round(x * 1e6, 1) for x in medians],
                 "tail_mean_us": round(float(tail_us.mean()), 1),
                 "tail_p99_us": round(float(np.percentile(tail_us, 99)), 1),
                 "tail_max_us": round(float(tail_us.max()), 1),
                 "df_pass_us": round(float(np.median(passes)) * 1e6, 1)}
        out[str(t_target)] = entry
        print(f"{variant:8s} t={t_target:>6d} n={entry['n_df_history']:>6d}  update: median {entry['median_us']:6.1f} us, "
              f"tail mean {entry['tail_mean_us']:6.1f} p99 {entry['tail_p99_us']:6.1f} max {entry['tail_max_us']:7.1f}"
              f"  (of which the DF pass {entry['df_pass_us']:6.1f} us)", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="t = 1e3 and 1e4 only")
    args = parser.parse_args()
    points = [1000, 10000] if args.quick else [1000, 10000, 100000]
    results = {"K": K, "N": N, "W": W, "tau": TAU, "reps": REPS, "updates_per_rep": PER_REP}
    for variant in ("paper", "mftcoder"):
        results[variant] = run_variant(variant, points)
    last = str(points[-1])
    worst_median = max(results[v][last]["median_us"] for v in ("paper", "mftcoder"))
    worst_p99 = max(results[v][last]["tail_p99_us"] for v in ("paper", "mftcoder"))
    results["target"] = {"t": points[-1], "update_under_us": TARGET_US, "median_us": worst_median,
                         "p99_us": worst_p99, "met": worst_median < TARGET_US}
    print(f"t={points[-1]}: update median {worst_median:.0f} us, p99 {worst_p99:.0f} us "
          f"(target < {TARGET_US:.0f} us): {'met' if results['target']['met'] else 'NOT met'}")
    results["loadavg_1min_at_end"] = os.getloadavg()[0]  # other jobs on this shared machine
    print("RESULT " + json.dumps(results))


if __name__ == "__main__":
    main()
