"""What CoBa's controller did in a comparison's runs, from their controller and metrics logs (issue 11).

    python benchmarks/controller_dynamics.py docs/results/finetune_cpu --methods uniform,coba,coba_m4 \
        --task reverse --window 50

For each method, over its seeds (run folders `<method>` and `<method>.seed<N>` under `<out>/runs`;
logs plain or gzipped, mft.experiments.run_logs), from the controller's record of every step
(weighting_df, weighting_slopes) and the weights and per-task training losses in metrics.jsonl:
- df_off: the first step at which the divergence factor (eq. 7) is below 0.01, after which the
  weights are ACS alone (eq. 6);
- one_task, starved: the share of logged steps after the controller's warm-up in which one task
  holds more than half of the weight, and in which some task holds less than 0.05;
- switch: the mean total change of the weights between consecutive logged steps (every
  `logging.interval`), sum_i |w_i(t) - w_i(t')| (0 for fixed weights, 2 for a jump from one task
  to another).
These three count only logged steps where every task is in the batch (its training loss is
logged), and `switch` only pairs of such steps. A task absent from a step's batch is logged with
weight 0 and the others' weights renormalised over the present ones: counted, it made uniform
weighting itself score 28% "starved" on the from-scratch runs (a 48-record task is often absent).
- for `--task` (the overfitting task): onset, its lowest full validation loss in that run; its mean
  weight before and after the onset (steps where every task is present); `rise`, the least-squares
  slope per step of its full validation loss from the onset on (how fast it overfits);
  `rising`, the share of controller steps after the onset whose fitted slope (eq. 2) is positive,
  i.e. how often the controller sees the overfitting it should act on; with `--window N` (the
  slope window), `straddle`, the share of those steps whose N-step window still holds steps
  before the onset (so part of the fall before the minimum is in the slope).
A method without CoBa's record (uniform, FAMO, ...) gets the weight figures from its first
logged step, and "-" for CoBa's. Prints one Markdown table, each figure the mean over the seeds
(± sd with several).
"""
from __future__ import annotations

import argparse
import os
import statistics

import numpy as np

from mft.experiments.run_logs import log_path, read_log
from mft.weighting.coba_math import ols_slope


def _is_coba_run(ctl: list[dict]) -> bool:
    """A run whose controller record holds CoBa's figures (other methods log no slopes, or nothing)."""
    return bool(ctl) and "weighting_slopes" in ctl[0]


def _all_present(record: dict) -> bool:
    """Every task was in this logged step's batch (a task absent from it has no training loss)."""
    losses = record.get("task_loss")
    return losses is None or all(v is not None for v in losses.values())


def run_dynamics(run_dir: str, task: str, window: int | None = None) -> dict[str, float | None]:
    """The figures above for one run folder."""
    ctl = read_log(run_dir, "controller") if log_path(run_dir, "controller") else []  # every controller step
    metrics = read_log(run_dir, "metrics")
    coba = _is_coba_run(ctl)
    logged = {r["step"]: r for r in metrics if r.get("weights")}
    steps = sorted(logged)
    present = {s for s in steps if _all_present(logged[s])}
    weights = {s: logged[s]["weights"] for s in steps}
    if coba:
        started = [r["step"] for r in ctl if any(abs(s) > 0 for s in r["weighting_slopes"].values())]
        warm = started[0] if started else ctl[-1]["step"] + 1
    else:
        warm = steps[0] if steps else 0
    df_off = next((r["step"] for r in ctl if r["step"] >= warm and r["weighting_df"] < 0.01), None) if coba else None
    after = [weights[s] for s in steps if s >= warm and s in present]
    one_task = sum(max(w.values()) > 0.5 for w in after) / len(after) if after else None
    starved = sum(min(w.values()) < 0.05 for w in after) / len(after) if after else None
    moves = [sum(abs(weights[b][t] - weights[a][t]) for t in weights[a]) for a, b in zip(steps, steps[1:])
             if a >= warm and a in present and b in present]
    valid = [(r["step"], r["valid_loss"][task]) for r in metrics if r.get("valid_loss")]
    onset = min(valid, key=lambda sv: sv[1])[0]
    before = [weights[s][task] for s in steps if warm <= s <= onset and s in present]
    later = [weights[s][task] for s in steps if s > onset and s in present]
    rise_points = [(s, v) for s, v in valid if s >= onset]
    rise = (float(ols_slope(np.array([v for _, v in rise_points]), np.array([s for s, _ in rise_points])))
            if len(rise_points) > 1 else None)
    counted = [r for r in ctl if r["step"] > onset] if coba else []
    slopes = [r["weighting_slopes"][task] for r in counted]
    straddle = (sum(r["step"] - onset < window for r in counted) / len(counted)
                if counted and window else None)
    return {"df_off": df_off, "one_task": one_task, "starved": starved,
            "switch": statistics.fmean(moves) if moves else None, "onset": onset,
            "w_before": statistics.fmean(before) if before else None,
            "w_after": statistics.fmean(later) if later else None, "rise": rise,
            "rising": sum(s > 0 for s in slopes) / len(slopes) if slopes else None, "straddle": straddle}


def _cell(values: list, slope: bool = False) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if slope:
        fmt = lambda v: f"{v:.1e}"  # noqa: E731 - loss per step
    elif all(float(v).is_integer() and abs(v) >= 1 for v in values):
        fmt = lambda v: f"{v:.0f}"  # noqa: E731 - steps
    else:
        fmt = lambda v: f"{v:.2f}"  # noqa: E731
    return fmt(statistics.fmean(values)) + (f" ± {fmt(statistics.stdev(values))}" if len(values) > 1 else "")


COLUMNS = ["df_off", "one_task", "starved", "switch", "onset", "w_before", "w_after", "rise", "rising", "straddle"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="a launch/reproduce.py --out folder")
    parser.add_argument("--methods", required=True, help="comma-separated methods with runs under <out>/runs")
    parser.add_argument("--task", required=True, help="the task expected to overfit")
    parser.add_argument("--window", type=int, default=None, metavar="N",
                        help="CoBa's slope window N of these runs (for the straddle column)")
    args = parser.parse_args(argv)
    runs_dir = os.path.join(args.out, "runs")
    print("| method | seeds | DF < 0.01 from step | one task > 0.5 | a task < 0.05 | weight change between logs | "
          f"{args.task}: best step | its weight before | after | its rise per step after | "
          "its slope > 0 after | windows holding the best step |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for method in args.methods.split(","):
        folders = sorted(f for f in os.listdir(runs_dir) if f == method or f.startswith(method + ".seed"))
        figures = [run_dynamics(os.path.join(runs_dir, f), args.task, args.window) for f in folders
                   if log_path(os.path.join(runs_dir, f), "metrics")]
        if not figures:  # no finished run (or STL: its runs are one folder deeper)
            print(f"| {method} | 0 |" + " - |" * len(COLUMNS))
            continue
        cells = [_cell([f[c] for f in figures], slope=c == "rise") for c in COLUMNS]
        print(f"| {method} | {len(figures)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
