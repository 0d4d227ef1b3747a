"""Cost of one CoBa controller update as training grows.

    .venv/bin/python benchmarks/controller_scaling.py            # about a minute on 2 cores
    .venv/bin/python benchmarks/controller_scaling.py --quick    # t up to 1e4 only

K = 9 tasks, N = 400, W = 200 (the paper's N = 2M, W = M with M = 200 validation batches),
tau = 5, both variants. Each controller is fed synthetic validation losses (noisy power-law decay,
one task turning upward now and then) up to t, then timed over single updates. The divergence
factor sums over the whole history since warm-up; two controllers run in lock-step on the same
losses: "summary" (the shipped path, ``ExpSumHistory``'s cached Taylor summary) and "direct" (the
same controller forced to the O(n) pass every step), and their DFs are compared.

Targets: every update under 1 ms; t = 1e5 costs at most 2x t = 1e3 (median of REPS blocks).
Ends with ``RESULT {json}``.
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import time

import numpy as np

from mft.weighting import build_weighting
from mft.weighting import coba_math as cm

K, N, W, TAU = 9, 400, 200, 5.0
REPS, PER_REP = 7, 200  # at each t: copies of the controller timed, updates timed on each


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


def make(variant: str, direct: bool):
    ctl = build_weighting("coba", num_tasks=K, history_window=N, warmup_steps=W, tau=TAU, variant=variant)
    if variant == "mftcoder":
        ctl.start(Losses().l0)
    if direct:  # never use the summary: the O(n) pass at every step
        ctl._df_history.MIN_CACHED = math.inf
    return ctl


def ref_df(ctl) -> float:
    """The DF of the current history by the direct O(n) pass (coba_math without a summary)."""
    fn = cm.divergence_factor_paper if ctl.variant == "paper" else cm.divergence_factor_mftcoder
    return fn(ctl._df_history.view(), ctl.tau, ctl._df_abs_sum)


def run_variant(variant: str, points: list[int]) -> dict:
    losses = Losses()
    ctls = {"summary": make(variant, False), "direct": make(variant, True)}
    out = {}
    for t_target in points:
        # fill up to t, timing the last 10% of it: the amortised cost, summary rebuilds included
        fill = {mode: [] for mode in ctls}
        tail_from = ctls["summary"].t + (t_target - ctls["summary"].t) * 9 // 10
        rebases0 = ctls["summary"]._df_history.rebases
        gc.disable()
        while ctls["summary"].t < t_target:
            row, timed = losses.next(), ctls["summary"].t >= tail_from
            if timed and ctls["summary"].t == tail_from:
                rebases0 = ctls["summary"]._df_history.rebases
            for mode, ctl in ctls.items():
                t0 = time.perf_counter()
                ctl.update(val_losses=row)
                if timed:
                    fill[mode].append(time.perf_counter() - t0)
        rebases = ctls["summary"]._df_history.rebases - rebases0
        # at t: REPS copies of each controller replay the same PER_REP updates, modes interleaved
        rows = [losses.next() for _ in range(PER_REP)]
        medians = {mode: [] for mode in ctls}
        for _ in range(REPS):
            for mode, ctl in ctls.items():
                clone = copy.deepcopy(ctl)
                block = []
                for row in rows:
                    t0 = time.perf_counter()
                    clone.update(val_losses=row)
                    block.append(time.perf_counter() - t0)
                medians[mode].append(float(np.median(block)))
        hist = copy.deepcopy(ctls["summary"]._df_history)  # one O(n) rebuild of the summary, alone
        rebuild = []
        for _ in range(REPS):
            t0 = time.perf_counter()
            hist._rebase(hist.view(), 1.0 / max(1e-300, float(np.abs(hist.view()).mean())))
            rebuild.append(time.perf_counter() - t0)
        gc.enable()
        df_fast, df_ref = ctls["summary"].scores()["df"], ref_df(ctls["summary"])
        entry = {"n_df_history": len(ctls["summary"]._df_history),
                 "df": df_fast, "df_rel_diff_vs_direct": abs(df_fast - df_ref) / df_ref,
                 "tail_updates": len(fill["summary"]), "summary_rebuilds_in_tail": rebases,
                 "summary_rebuild_us": round(float(np.median(rebuild)) * 1e6, 1)}
        for mode in ctls:
            us = np.array(fill[mode]) * 1e6
            entry[mode] = {"median_us": round(float(np.median(medians[mode])) * 1e6, 2),
                           "rep_medians_us": [round(x * 1e6, 1) for x in medians[mode]],
                           "tail_mean_us": round(float(us.mean()), 2),
                           "tail_p99_us": round(float(np.percentile(us, 99)), 2),
                           "tail_max_us": round(float(us.max()), 2)}
        rate = rebases / max(1, entry["tail_updates"])
        entry["summary"]["amortised_us"] = round(entry["summary"]["median_us"] + rate * entry["summary_rebuild_us"], 2)
        entry["summary"]["worst_case_us"] = round(entry["summary"]["median_us"] + entry["summary_rebuild_us"], 2)
        entry["direct"]["amortised_us"] = entry["direct"]["worst_case_us"] = entry["direct"]["median_us"]
        out[str(t_target)] = entry
        print(f"{variant:8s} t={t_target:>6d} n={entry['n_df_history']:>6d} "
              + "  ".join(f"{m}: median {entry[m]['median_us']:6.1f} us, amortised {entry[m]['amortised_us']:6.1f}, "
                          f"tail mean {entry[m]['tail_mean_us']:6.1f} p99 {entry[m]['tail_p99_us']:6.1f}" for m in ctls)
              + f"  rebuilds {rebases}/{entry['tail_updates']} ({entry['summary_rebuild_us']:.0f} us each)"
              + f"  DF rel diff {entry['df_rel_diff_vs_direct']:.1e}", flush=True)
    first, last = out[str(points[0])], out[str(points[-1])]
    for mode in ctls:
        out[f"ratio_{mode}_t{points[-1]}_over_t{points[0]}"] = {
            "median": round(last[mode]["median_us"] / first[mode]["median_us"], 3),
            "amortised": round(last[mode]["amortised_us"] / first[mode]["amortised_us"], 3),
            "tail_mean": round(last[mode]["tail_mean_us"] / first[mode]["tail_mean_us"], 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="t = 1e3 and 1e4 only")
    args = parser.parse_args()
    points = [1000, 10000] if args.quick else [1000, 10000, 100000]
    results = {"K": K, "N": N, "W": W, "tau": TAU, "reps": REPS, "updates_per_rep": PER_REP}
    for variant in ("paper", "mftcoder"):
        results[variant] = run_variant(variant, points)
    key = f"ratio_summary_t{points[-1]}_over_t{points[0]}"
    worst = max(results[v][str(t)]["summary"]["worst_case_us"] for v in ("paper", "mftcoder") for t in points)
    results["targets"] = {
        "update_under_1ms": worst < 1000.0, "worst_case_update_us": worst,
        "t_last_at_most_2x_t_first": all(results[v][key]["median"] <= 2.0 and results[v][key]["amortised"] <= 2.0
                                         for v in ("paper", "mftcoder")),
        "df_within_1e-12_of_direct": all(results[v][str(t)]["df_rel_diff_vs_direct"] <= 1e-12
                                         for v in ("paper", "mftcoder") for t in points)}
    for v in ("paper", "mftcoder"):
        print(f"{v}: t={points[-1]} / t={points[0]}: summary {results[v][key]}, "
              f"direct {results[v][key.replace('summary', 'direct')]}")
    results["loadavg_1min_at_end"] = os.getloadavg()[0]  # other jobs on this shared machine
    print("RESULT " + json.dumps(results))


if __name__ == "__main__":
    main()
