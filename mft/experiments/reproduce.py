"""Train every weighting method on one config, score each selected checkpoint, write the report.

    python launch/reproduce.py --config configs/compare_cpu.json --out docs/results/compare_cpu

Scores: test-split loss and exact match on the tasks' test files (`score`), and the config's
reproduce.benchmarks (`benchmark`, see mft.experiments.benchmark_scores).

Method names: any registered weighting method (`uniform`, `coba`, `famo`, ...), with `_valid`
for its validation-loss source (`famo_valid` = FAMO*), `coba_no_rcs` / `coba_no_acs` / `coba_no_df`
for CoBa's ablations, `coba_mftcoder` (CoBa as the authors' code computes it), `stl` (one
single-task run per task), and any name the config defines in reproduce.overrides with its
`weighting.method` (e.g. `"coba_m4": {"weighting.method": "coba", "weighting.valid_batches": 4}`).

Seeds: each method trains once per seed (training.seed = the config's seed, +1, +2, ...; the data
files stay the same). The config's own seed runs in `<out>/runs/<method>`, another seed s in
`<out>/runs/<method>.seed<s>`; a run whose summary.json exists is not repeated, nor is a scored
one, so an interrupted reproduction continues where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass

from .benchmark_scores import BenchmarkOptions, benchmark_scores
from .run_logs import read_log
from ..config import RunConfig, load_config
from ..config_loader import ConfigError
from ..weighting import available_methods
from ..weighting.coba import ABLATIONS

logger = logging.getLogger(__name__)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
TRAIN = os.path.join(ROOT, "launch", "train.py")


NAMED_METHODS = {"coba_mftcoder": ("coba", {"variant": "mftcoder"})}  # name -> (method, params)


@dataclass
class MethodRun:
    name: str
    output_dir: str
    overrides: list[str]
    stl: bool = False
    seed: int | None = None


def method_overrides(cfg: RunConfig, name: str) -> list[str]:
    """--set overrides that turn the config's weighting into method `name`."""
    method, params = name, {}
    own = cfg.reproduce.overrides.get(name, {})
    if name.endswith("_valid"):
        method, params = name[: -len("_valid")], {"source": "valid"}
    if name.startswith("coba_no_"):
        part = name[len("coba_no_"):]
        if part not in ABLATIONS:
            raise ValueError(f"unknown CoBa ablation {name!r}; use coba_no_rcs, coba_no_acs or coba_no_df")
        method, params = "coba", {"ablate": part}
    if name in NAMED_METHODS:
        method, params = NAMED_METHODS[name][0], dict(NAMED_METHODS[name][1])
    elif "weighting.method" in own:  # a method the config defines: a registered one with other settings
        method = own["weighting.method"]
    if method not in available_methods():
        raise ValueError(f"reproduce method {name!r} names no weighting method; use one of "
                         f"{sorted(available_methods())}, or define it in reproduce.overrides with weighting.method")
    if method == cfg.weighting.method:  # keep the config's settings of its own method (CoBa's window, ...)
        params = {**dataclasses.asdict(cfg.weighting.params), **params}
    sets = [f"weighting.method={method}", f"weighting.params={json.dumps(params)}"]
    for key, value in own.items():
        if key != "weighting.method":
            sets.append(f"{key}={json.dumps(value)}")
    return sets


def seeds(cfg: RunConfig, count: int) -> list[int]:
    """The training seeds of a `count`-seed reproduction: the config's, then the next ones."""
    if count < 1:
        raise ValueError(f"--num-seeds must be >= 1, got {count}")
    return [cfg.training.seed + i for i in range(count)]


def plan(cfg: RunConfig, methods: list[str], out: str, seed_list: list[int] | None = None) -> list[MethodRun]:
    """One run per method and seed, in method order (default: the config's seed only)."""
    runs = []
    for name in methods:
        sets = ["weighting.method=uniform", "weighting.params={}"] if name == "stl" else method_overrides(cfg, name)
        for seed in seed_list or [cfg.training.seed]:
            folder = name if seed == cfg.training.seed else f"{name}.seed{seed}"
            runs.append(MethodRun(name, os.path.join(out, "runs", folder), sets, stl=name == "stl", seed=seed))
    return runs


def check_before_training(cfg: RunConfig, runs: list[MethodRun], config_path: str, extra: list[str]) -> None:
    """What would otherwise stop the comparison after hours of training, checked before the first
    run: every task's test files (the scores are computed on them) and each method's final config
    (its overrides on top of the config and --set). Raises ConfigError naming the key and the fix."""
    for i, task in enumerate(cfg.data.tasks):
        if not task.test:
            raise ConfigError(f"data.tasks[{i}].test: task {task.name!r} has no test files, and the comparison "
                              "scores every method on them; add test files to each task (as configs/compare_cpu.json "
                              "does), or train this config with launch/train.py")
        for j, path in enumerate(task.test):
            if not os.path.isfile(path):
                raise ConfigError(f"{path}: file not found; fix data.tasks[{i}].test[{j}] (task {task.name!r})")
    for name in dict.fromkeys(run.name for run in runs):
        overrides = next(run.overrides for run in runs if run.name == name)
        try:
            load_config(config_path, [*overrides, *extra])
        except ConfigError as exc:
            raise ConfigError(f"method {name}: {exc}") from None


def is_finished(run: MethodRun, cfg: RunConfig) -> bool:
    if run.stl:
        return all(os.path.exists(os.path.join(run.output_dir, "stl", t.name, "summary.json")) for t in cfg.data.tasks)
    return os.path.exists(os.path.join(run.output_dir, "summary.json"))


def train(run: MethodRun, config_path: str, extra: list[str], ranks: int) -> None:
    """Train one method through the launcher (skipped when already finished)."""
    args = ["--config", config_path, "--set", f"output_dir={run.output_dir}", "--set", "logging.progress_bar=false"]
    seed = [] if run.seed is None else [f"training.seed={run.seed}"]  # last: a global --set does not undo it
    args += [a for o in run.overrides + extra + seed for a in ("--set", o)] + (["--stl"] if run.stl else [])
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if ranks > 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [os.path.join(os.path.dirname(sys.executable), "deepspeed"), "--num_gpus", str(ranks),
               "--master_port", str(port), TRAIN, *args]
        env.setdefault("OMP_NUM_THREADS", "1")
    else:
        cmd = [sys.executable, TRAIN, *args]
    logger.info(f"[{run.name}, seed {run.seed}] training -> {run.output_dir}")
    os.makedirs(run.output_dir, exist_ok=True)
    with open(os.path.join(run.output_dir, "train.log"), "w") as f:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"[{run.name}] training failed (exit {proc.returncode}); see {run.output_dir}/train.log")


def read_metrics(run_dir: str) -> list[dict]:
    """The run's metrics.jsonl records (plain, or gzipped as docs/results commits them)."""
    return read_log(run_dir, "metrics")


def is_scored(run: MethodRun) -> bool:
    return os.path.exists(os.path.join(run.output_dir, "scores.json"))


def best_steps(metrics: list[dict], tasks: list[str]) -> dict[str, int]:
    """Each task's own best validation step (lowest validation loss)."""
    valid = [r for r in metrics if "valid_loss" in r]
    return {t: min(valid, key=lambda r: r["valid_loss"][t] if r["valid_loss"][t] is not None else float("inf"))["step"]
            for t in tasks}


def score(run: MethodRun, cfg: RunConfig) -> dict:
    """Per task: test loss and exact match at the run's selected checkpoint, with the loss's sum and
    token count and the sha256 of the scored weight files (`weights`; STL: per task), so a committed
    score traces to its checkpoint; the convergence spread."""
    from .task_eval import evaluate_tasks, weight_digests

    cached = os.path.join(run.output_dir, "scores.json")
    if os.path.exists(cached):
        with open(cached) as f:
            return json.load(f)
    tasks = [t.name for t in cfg.data.tasks]
    tests = {t.name: t.test for t in cfg.data.tasks}
    if any(not files for files in tests.values()):
        raise ValueError("every task needs data.tasks[].test files for the comparison")
    result: dict = {"tasks": {}}
    if run.stl:
        for t in tasks:
            task_dir = os.path.join(run.output_dir, "stl", t)
            result["tasks"][t] = evaluate_tasks(os.path.join(task_dir, "best"), {t: tests[t]},
                                                chat_template=cfg.data.chat_template)[t]
            result["tasks"][t]["weights"] = weight_digests(os.path.join(task_dir, "best"))
            result["tasks"][t]["selected_step"] = json.load(open(os.path.join(task_dir, "summary.json")))["best_step"]
    else:
        result["tasks"] = evaluate_tasks(os.path.join(run.output_dir, "best"), tests, chat_template=cfg.data.chat_template)
        result["weights"] = weight_digests(os.path.join(run.output_dir, "best"))
        summary = json.load(open(os.path.join(run.output_dir, "summary.json")))
        steps = best_steps(read_metrics(run.output_dir), tasks)
        result["selected_step"] = summary["best_step"]
        result["retired_tasks"] = summary.get("retired_tasks", [])  # validation.task_patience
        result["task_best_steps"] = steps
        result["convergence_spread"] = max(steps.values()) - min(steps.values())
    with open(cached, "w") as f:
        json.dump(result, f, indent=1)
    return result


def benchmark(run: MethodRun, cfg: RunConfig, options: BenchmarkOptions) -> dict[str, dict]:
    """The config's reproduce.benchmarks scored on the run's selected checkpoint (cached in the run)."""
    tests = {t.name: t.test for t in cfg.data.tasks}
    return benchmark_scores(run.output_dir, tests, cfg.reproduce.benchmarks, options, stl=run.stl)
