"""Train every weighting method on one config, evaluate each selected checkpoint, write the report.

    python launch/reproduce.py --config configs/compare_cpu.json --out docs/results/compare_cpu
    python launch/reproduce.py --config configs/cc_phi.json --methods uniform,coba --ranks 8
    python launch/reproduce.py --config configs/cc_phi.json --out runs/cc --limit 20     # a quick look first
    python launch/reproduce.py --config configs/finetune_cpu.json --out docs/results/finetune_cpu --num-seeds 5
    python launch/reproduce.py --config configs/finetune_cpu.json --out docs/results/finetune_cpu --num-seeds 5 --report-only

Writes <out>/report.md (the tables, the command, the figures, and <out>/notes.md when present: the
human reading of the results) and <out>/figures/*.png; the runs live in <out>/runs/<method>
and, for further seeds, <out>/runs/<method>.seed<s> (resumable: finished runs and scores are
reused). With --num-seeds N the table shows mean ± sd over the seeds and their number, paired
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

from eval.benchmarks import load_suites
from eval.benchmarks.hub import add_data_dir_arguments, data_dir_from_args
from eval.errors import EvalError
from eval.report import markdown_table as benchmark_table
from mft.base_model import load_base_config
from mft.config import load_config
from mft.config_loader import ConfigError
from mft.experiments.benchmark_scores import CODE_SUITES, BenchmarkOptions, cache_path, check_names, named_by_metric
from mft.experiments.pretrain import ensure_base
from mft.experiments.report import (figures, markdown_table, mean_records, paired_sections, pyplot,
                                    retirement_section)
from mft.experiments.reproduce import (benchmark, check_before_training, is_finished, is_scored, plan, read_metrics, score,
                                       seeds, train)
from mft.experiments.run_logs import compress_logs
from mft.logs import setup_logging
from mft.scripts import deprecated_alias, fail, script_parser
from mft.task_mix import mix_table, read_run_mix


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = script_parser(__doc__, prog="launch/reproduce.py")
    parser.add_argument("--config", required=True, help="run config JSON with test files, e.g. configs/compare_cpu.json")
    parser.add_argument("--out", required=True, help="folder for runs, report.md and figures")
    parser.add_argument("--methods", default=None, help="comma-separated; default: the config's reproduce.methods")
    parser.add_argument("--ranks", type=int, default=2, help="ranks per training run (deepspeed --num_gpus)")
    parser.add_argument("--num-seeds", dest="num_seeds", type=int, default=1, metavar="N",
                        help="training seeds per method: the config's seed, +1, ...")
    deprecated_alias(parser, "--seeds", "--num-seeds", "num_seeds", type=int)
    parser.add_argument("--figure-seed", type=int, default=None, metavar="SEED",
                        help="draw the figures from this seed's runs (default: the mean over the seeds)")
    parser.add_argument("--paired-against", default=None, metavar="METHODS",
                        help="with several seeds, compare every method with each of these, paired by seed "
                             "(comma-separated methods of this run; default: uniform and coba, where they ran)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key for every run, e.g. --set training.max_steps=100 (repeatable)")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the report from the scored runs in --out (no build, training or scoring)")
    parser.add_argument("--compact", action="store_true",
                        help="gzip the runs' metrics.jsonl and controller.jsonl once the report is written")
    bench = parser.add_argument_group("benchmarks (reproduce.benchmarks)")
    bench.add_argument("--limit", dest="limit", type=int, default=None, metavar="N",
                       help="only the first N problems of each suite (quick checks; cached apart from full runs)")
    deprecated_alias(bench, "--benchmark-limit", "--limit", "limit", type=int)
    add_data_dir_arguments(bench)
    bench.add_argument("--max-new-tokens", type=int, default=512)
    bench.add_argument("--workers", type=int, default=None, help="programs run at once (default: CPU count)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    try:
        cfg, runs, seed_list, baselines, options = prepare(args)
        if args.report_only:
            check_scored(cfg, runs, seed_list, options)
    except (ConfigError, EvalError, ImportError, ValueError) as exc:
        return fail(exc)
    try:
        return compare(args, argv, cfg, runs, seed_list, baselines, options)
    except (ConfigError, EvalError, RuntimeError) as exc:  # a failed training run names its train.log
        return fail(exc)


def compare(args: argparse.Namespace, argv: list[str] | None, cfg, runs, seed_list, baselines, options) -> int:
    """Train what is not finished, score every run, write the report."""
    out = os.path.abspath(args.out)
    if cfg.model.base and not args.report_only:  # a fine-tuning config: pretrain its base model first (once; it is cached)
        ensure_base(load_base_config(cfg.model.base))
    for run in runs:
        if not args.report_only and not is_finished(run, cfg):
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
    given = argv if argv is not None else sys.argv[1:]
    rerun = [a for a in given if a not in ("--report-only", "--compact")]  # the command that made the runs
    command = " ".join(["python", "launch/reproduce.py", *rerun])
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
    mixes = {run.name: m for run in first_seed if not run.stl and (m := read_run_mix(run.output_dir))}
    if mixes:
        lines += ["## Realised task mix", "", "Each task's share of the training slots drawn (samples; packed "
                  "rows of one task under a per-task data.mixing) and its passes over its data, seed "
                  f"{seed_list[0]} (docs/mixing.md).", "", mix_table(mixes), ""]
    if benchmarks:
        lines += ["## Benchmarks", "", _benchmark_caption(args.limit), "",
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
    if args.compact:
        compress_logs(os.path.join(out, "runs"))
    print(f"report: {os.path.join(out, 'report.md')}")
    print(json.dumps({m: {**{t: s[0]["tasks"][t] for t in tasks}, **benchmarks.get(m, {})} for m, s in scores.items()}))
    return 0


def check_scored(cfg, runs, seed_list, options) -> None:
    """--report-only: every run is scored (and the config's seed benchmarked, where the config asks)."""
    benchmarked = cfg.reproduce.benchmarks  # the config's seed is scored on them too
    missing = [os.path.relpath(run.output_dir) for run in runs if not is_scored(run) or (
        benchmarked and run.seed == seed_list[0] and not os.path.exists(cache_path(run.output_dir, options)))]
    if missing:
        raise ValueError(f"--report-only: not scored yet: {', '.join(missing)}; run the same command without "
                         "--report-only to train and score them")


def prepare(args: argparse.Namespace) -> tuple:
    """Everything checked before the first training run: the config, the methods and seeds, each
    method's final config, the tasks' test files, the benchmark files and matplotlib (the figures)."""
    pyplot()  # ImportError naming the extra where matplotlib is missing
    cfg = load_config(args.config, args.overrides)
    check_names(cfg.reproduce.benchmarks)
    methods = args.methods.split(",") if args.methods else cfg.reproduce.methods
    baselines = args.paired_against.split(",") if args.paired_against else ["uniform", "coba"]
    if args.paired_against and not set(baselines) <= set(methods):
        raise ValueError(f"--paired-against: {', '.join(sorted(set(baselines) - set(methods)))} is not among the "
                         f"methods of this run ({', '.join(methods)})")
    seed_list = seeds(cfg, args.num_seeds)
    if args.figure_seed is not None and args.figure_seed not in seed_list:
        raise ValueError(f"--figure-seed {args.figure_seed} is not among the seeds {seed_list}")
    runs = plan(cfg, methods, os.path.abspath(args.out), seed_list)
    check_before_training(cfg, runs, os.path.abspath(args.config), args.overrides)
    code_suites = [n for n in cfg.reproduce.benchmarks if n in CODE_SUITES]
    data_dir = data_dir_from_args(args) if code_suites else None
    if code_suites:
        load_suites(code_suites, data_dir=data_dir)  # the files are there and readable
    options = BenchmarkOptions(limit=args.limit, data_dir=str(data_dir) if data_dir else None,
                               max_new_tokens=args.max_new_tokens, workers=args.workers)
    return cfg, runs, seed_list, baselines, options


def _benchmark_caption(limit: int | None) -> str:
    text = ("Each method's selected checkpoint on the config's benchmarks, prompted in the format it was "
            "trained on: pass@1 in % (greedy) per suite (HumanEval-X per language), F1 and BLEU (0-100) or "
            "perplexity per task, and their average.")
    return text + (f" Only the first {limit} problems of each suite (--limit)." if limit else "")


if __name__ == "__main__":
    sys.exit(main())
