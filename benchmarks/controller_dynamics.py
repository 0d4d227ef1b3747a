"""What CoBa's controller did in a comparison's runs, from their controller.jsonl (issue 11).

    python benchmarks/controller_dynamics.py docs/results/finetune_cpu --methods coba,coba_m4 --task reverse

For each method, over its seeds (run folders `<method>` and `<method>.seed<N>` under `<out>/runs`),
from the controller's record of every step (weighting_df, weighting_rcs, weighting_acs,
weighting_slopes, the weights in metrics.jsonl):
- df_off: the first step at which the divergence factor (eq. 7) is below 0.01, after which the
  weights are ACS alone (eq. 6);
- one_task, starved: the share of steps after the controller's warm-up in which one task holds
  more than half of the weight, and in which some task holds less than 0.05;
- switch: the mean total change of the weights between consecutive logged steps (metrics.jsonl,
  every `logging.interval`), sum_i |w_i(t) - w_i(t')| (0 for fixed weights, 2 for a jump from one
  task to another);
- for `--task` (the overfitting task): onset, its lowest full validation loss in that run; its mean
  weight before and after the onset; `rising`, the share of steps after the onset whose fitted
  slope (eq. 2) is positive, i.e. how often the controller sees the overfitting it should act on.
Prints one Markdown table, each figure the mean over the seeds (± sd with several).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics


def _records(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def _is_coba_run(run_dir: str) -> bool:
    """A run whose controller record holds CoBa's figures (other methods log no slopes, or nothing)."""
    path = os.path.join(run_dir, "controller.jsonl")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    with open(path) as f:
        return "weighting_slopes" in json.loads(f.readline())


def run_dynamics(run_dir: str, task: str) -> dict[str, float | None]:
    """The figures above for one run folder."""
    ctl = _records(os.path.join(run_dir, "controller.jsonl"))  # every controller step
    metrics = _records(os.path.join(run_dir, "metrics.jsonl"))
    weights = {r["step"]: r["weights"] for r in metrics if r.get("weights")}
    started = [r["step"] for r in ctl if any(abs(s) > 0 for s in r["weighting_slopes"].values())]
    warm = started[0] if started else ctl[-1]["step"] + 1
    df_off = next((r["step"] for r in ctl if r["step"] >= warm and r["weighting_df"] < 0.01), None)
    after = [weights[s] for s in sorted(weights) if s >= warm]
    one_task = sum(max(w.values()) > 0.5 for w in after) / max(len(after), 1)
    starved = sum(min(w.values()) < 0.05 for w in after) / max(len(after), 1)
    steps = sorted(weights)
    moves = [sum(abs(weights[b][t] - weights[a][t]) for t in weights[a]) for a, b in zip(steps, steps[1:]) if a >= warm]
    valid = [(r["step"], r["valid_loss"][task]) for r in metrics if r.get("valid_loss")]
    onset = min(valid, key=lambda sv: sv[1])[0]
    before = [weights[s][task] for s in steps if warm <= s <= onset]
    later = [weights[s][task] for s in steps if s > onset]
    slopes = [r["weighting_slopes"][task] for r in ctl if r["step"] > onset]
    return {"df_off": df_off, "one_task": one_task, "starved": starved,
            "switch": statistics.fmean(moves) if moves else None, "onset": onset,
            "w_before": statistics.fmean(before) if before else None,
            "w_after": statistics.fmean(later) if later else None,
            "rising": sum(s > 0 for s in slopes) / len(slopes) if slopes else None}


def _cell(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    fmt = (lambda v: f"{v:.0f}") if all(float(v).is_integer() and abs(v) >= 1 for v in values) else (lambda v: f"{v:.2f}")
    return fmt(statistics.fmean(values)) + (f" ± {fmt(statistics.stdev(values))}" if len(values) > 1 else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="a launch/reproduce.py --out folder")
    parser.add_argument("--methods", required=True, help="comma-separated methods whose runs have controller.jsonl")
    parser.add_argument("--task", required=True, help="the task expected to overfit")
    args = parser.parse_args(argv)
    runs_dir = os.path.join(args.out, "runs")
    columns = ["df_off", "one_task", "starved", "switch", "onset", "w_before", "w_after", "rising"]
    print("| method | seeds | DF < 0.01 from step | one task > 0.5 | a task < 0.05 | weight change between logs | "
          f"{args.task}: best step | its weight before | after | its slope > 0 after |")
    print("|---" * (len(columns) + 2) + "|")
    for method in args.methods.split(","):
        folders = sorted(f for f in os.listdir(runs_dir) if f == method or f.startswith(method + ".seed"))
        figures = [run_dynamics(os.path.join(runs_dir, f), args.task) for f in folders
                   if _is_coba_run(os.path.join(runs_dir, f))]
        if not figures:  # not a CoBa method, or no finished run
            print(f"| {method} | 0 |" + " - |" * len(columns))
            continue
        print(f"| {method} | {len(figures)} | " + " | ".join(_cell([f[c] for f in figures]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
