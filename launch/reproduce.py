"""Train every weighting method on one config, evaluate each selected checkpoint, write the report.

    python launch/reproduce.py --config configs/compare_cpu.json --out docs/results/compare_cpu
    python launch/reproduce.py --config configs/cc_phi.json --methods uniform,coba --ranks 8
    python launch/reproduce.py --config configs/cc_phi.json --benchmark-limit 20     # a quick look first
    python launch/reproduce.py --config configs/finetune_cpu.json --out docs/results/finetune_cpu --seeds 5

Writes <out>/report.md (the tables, the command, the figures, and <out>/notes.md when present: the
human reading of the results) and <out>/figures/*.png; the runs live in <out>/runs/<method>
and, for further seeds, <out>/runs/<method>.seed<s> (resumable: finished runs and scores are
reused). With --seeds N the table shows mean ± sd over the seeds and their number, paired
per-seed comparisons of every method against uniform and against coba follow it
(--paired-against), and the figures show the seeds' mean
curves (or one seed's, --figure-seed). With reproduce.benchmarks in the config, each
method's selected checkpoint is also scored on them (pass@1 on HumanEval / HumanEval-X / MBPP,
F1, BLEU or perplexity on the test files) in the trained prompt format; the report's benchmark
table has the paper's shape: one row per method, one column per task's metric, and the average.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from eval.report import markdown_table as benchmark_table
from mft.experiments.benchmark_scores import BenchmarkOptions, check_names, named_by_metric
from mft.base_model import load_base_config
from mft.experiments.pretrain import ensure_base
from mft.config import load_config
from mft.logs import setup_logging
from mft.experiments.report import (figures, markdown_table, mean_records, paired_sections, pyplot,
                                    retirement_section)
from mft.experiments.reproduce import benchmark, is_finished, plan, read_metrics, score, seeds, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True, help="folder for runs, report.md and figures")
    parser.add_argument("--methods", default=None, help="comma-separated; default: the config's reproduce.methods")
    parser.add_argument("--ranks", type=int, default=2, help="ranks per training run (deepspeed --num_gpus)")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per method: the config's seed, +1, ...")
    parser.add_argument("--figure-seed", type=int, default=None, metavar="SEED",
                        help="draw the figures from this seed's runs (default: the mean over the seeds)")
    parser.add_argument("--paired-against", default=None, metavar="METHODS",
                        help="with several seeds, compare every method with each of these, paired by seed "
                             "(comma-separated methods of this run; default: uniform and coba, where they ran)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key for every run")
    bench = parser.add_argument_group("benchmarks (reproduce.benchmarks)")
    bench.add_argument("--benchmark-limit", type=int, default=None, metavar="N",
                       help="only the first N problems of each suite (quick checks; cached apart from full runs)")
    bench.add_argument("--data-dir", default=None, help="benchmark folder (default: $MFT_BENCHMARK_DIR or ../shared/data)")
    bench.add_argument("--max-new-tokens", type=int, default=512)
    bench.add_argument("--workers", type=int, default=None, help="programs run at once (default: CPU count)")
    args = parser.parse_args(argv)
    setup_logging()
    pyplot()  # fail now, not after hours of training, where matplotlib is missing
    cfg = load_config(args.config, args.overrides)
    try:
        check_names(cfg.reproduce.benchmarks)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = BenchmarkOptions(limit=args.benchmark_limit, data_dir=args.data_dir,
                               max_new_tokens=args.max_new_tokens, workers=args.workers)
    methods = args.methods.split(",") if args.methods else cfg.reproduce.methods
    baselines = args.paired_against.split(",") if args.paired_against else ["uniform", "coba"]
    if args.paired_against and not set(baselines) <= set(methods):
        print(f"error: --paired-against: {', '.join(sorted(set(baselines) - set(methods)))} is not among the "
              f"methods of this run ({', '.join(methods)})", file=sys.stderr)
        return 2
    out = os.path.abspath(args.out)
    if cfg.model.base:  # a fine-tuning config: pretrain its base model first (once; it is cached)
        ensure_base(load_base_config(cfg.model.base))
    try:
        seed_list = seeds(cfg, args.seeds)
        runs = plan(cfg, methods, out, seed_list)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.figure_seed is not None and args.figure_seed not in seed_list:
        print(f"error: --figure-seed {args.figure_seed} is not among the seeds {seed_list}", file=sys.stderr)
        return 2
    for run in runs:
        if not is_finished(run, cfg):
            train(run, os.path.abspath(args.config), args.overrides, args.ranks)
    tasks = [t.name for t in cfg.data.tasks]
    scores, run_seeds, metrics = {}, {}, {}
    for run in runs:
        scores.setdefault(run.name, []).append(score(run, cfg))
        run_seeds.setdefault(run.name, []).append(run.seed)
        if not run.stl and args.figure_seed in (None, run.seed):
            metrics.setdefault(run.name, []).append(read_metrics(run.output_dir))
    first_seed = [run for run in runs if run.seed == seed_list[0]]  # benchmarks: the config's seed
    benchmarks = {run.name: benchmark(run, cfg, options) for run in first_seed} if cfg.reproduce.benchmarks else {}
    paths = figures({m: mean_records(r) for m, r in metrics.items()}, tasks, os.path.join(out, "figures"))
    figure_note = (f"Figures: seed {args.figure_seed}." if args.figure_seed is not None
                   else f"Figures: the mean curve over {len(seed_list)} seeds." if len(seed_list) > 1 else "")
    command = " ".join(["python", "launch/reproduce.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"# Method comparison: {os.path.basename(args.config)}", "", f"Command: `{command}`", "",
             "Test-split loss (lower is better) and exact match in % (higher is better) at each method's "
             "selected checkpoint (lowest mean validation-loss ratio; STL: each task's own run); spread = "
             "range of the tasks' individual best validation steps. Best of each column in bold.", "",
             markdown_table(scores, tasks), ""]
    if len(seed_list) > 1:
        lines += paired_sections(scores, run_seeds, tasks, baselines)
    lines += retirement_section(scores, run_seeds)
    if figure_note:
        lines += [figure_note, ""]
    if benchmarks:
        lines += ["## Benchmarks", "", _benchmark_caption(args.benchmark_limit), "",
                  benchmark_table(named_by_metric(benchmarks), row_label="method"), ""]
    lines += [f"![{os.path.basename(p)}](figures/{os.path.basename(p)})" for p in paths]
    notes = os.path.join(out, "notes.md")  # the human reading of the results, kept across regenerations
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read()]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "scores.json"), "w") as f:
        json.dump({m: {"seeds": run_seeds[m], "runs": s, "benchmarks": benchmarks.get(m, {})}
                   for m, s in scores.items()}, f, indent=1)
    print(f"report: {os.path.join(out, 'report.md')}")
    print(json.dumps({m: {**{t: s[0]["tasks"][t] for t in tasks}, **benchmarks.get(m, {})} for m, s in scores.items()}))
    return 0


def _benchmark_caption(limit: int | None) -> str:
    text = ("Each method's selected checkpoint on the config's benchmarks, prompted in the format it was "
            "trained on: pass@1 in % (greedy) per suite (HumanEval-X per language), F1 and BLEU (0-100) or "
            "perplexity per task, and their average.")
    return text + (f" Only the first {limit} problems of each suite (--benchmark-limit)." if limit else "")


if __name__ == "__main__":
    sys.exit(main())
