"""Train every weighting method on one config, evaluate each selected checkpoint, write the report.

    python launch/reproduce.py --config configs/compare_cpu.json --out docs/results/compare_cpu
    python launch/reproduce.py --config configs/cc_phi.json --methods uniform,coba --ranks 8

Writes <out>/report.md (the table, the command, the figures, and <out>/notes.md when present: the
human reading of the results) and <out>/figures/*.png; the runs live in <out>/runs/<method>
(resumable: finished runs and scores are reused).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from mft.config import load_config
from mft.logs import setup_logging
from mft.report import figures, markdown_table, pyplot
from mft.reproduce import plan, read_metrics, score, train, _finished


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True, help="folder for runs, report.md and figures")
    parser.add_argument("--methods", default=None, help="comma-separated; default: the config's reproduce.methods")
    parser.add_argument("--ranks", type=int, default=2, help="ranks per training run (deepspeed --num_gpus)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key for every run")
    args = parser.parse_args(argv)
    setup_logging()
    pyplot()  # fail now, not after hours of training, where matplotlib is missing
    cfg = load_config(args.config, args.overrides)
    methods = args.methods.split(",") if args.methods else cfg.reproduce.methods
    out = os.path.abspath(args.out)
    runs = plan(cfg, methods, out)
    for run in runs:
        if not _finished(run, cfg):
            train(run, os.path.abspath(args.config), args.overrides, args.ranks)
    tasks = [t.name for t in cfg.data.tasks]
    scores = {run.name: score(run, cfg) for run in runs}
    metrics = {run.name: read_metrics(run.output_dir) for run in runs if not run.stl}
    paths = figures(metrics, tasks, os.path.join(out, "figures"))
    command = " ".join(["python", "launch/reproduce.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"# Method comparison: {os.path.basename(args.config)}", "", f"Command: `{command}`", "",
             "Test-split loss (lower is better) and exact match in % (higher is better) at each method's "
             "selected checkpoint (lowest mean validation-loss ratio; STL: each task's own run); spread = "
             "range of the tasks' individual best validation steps. Best of each column in bold.", "",
             markdown_table(scores, tasks), ""]
    lines += [f"![{os.path.basename(p)}](figures/{os.path.basename(p)})" for p in paths]
    notes = os.path.join(out, "notes.md")  # the human reading of the results, kept across regenerations
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read()]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "scores.json"), "w") as f:
        json.dump(scores, f, indent=1)
    print(f"report: {os.path.join(out, 'report.md')}")
    print(json.dumps({m: {t: s["tasks"][t] for t in tasks} for m, s in scores.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
