"""Benchmark scores of a run's selected checkpoint, as the paper's tables report them (reproduce.benchmarks).

    scores = benchmark_scores("runs/coba", tasks={"python": ["python.test.jsonl"], ...},
                              names=["humaneval", "humaneval-x", "mbpp"], options=BenchmarkOptions(limit=3))
    # {"humaneval": {"pass@1": 0.42, ...}, "humaneval-x/cpp": {...}, "mbpp": {...}}

Names: "humaneval", "humaneval-x", "mbpp" (pass@1 of greedy completions run in the sandbox,
eval.pipeline) and "qa_f1", "bleu", "perplexity" (each task's test files, eval.task_files; keys
"<task>:f1", "<task>:bleu", "<task>:ppl"). Prompts are in the format the checkpoint was trained on
(eval.prompt_format). The model is `<output_dir>/best`; for a single-task (STL) run each task's
own `stl/<task>/best`, and a code suite is scored with the model of the task named as its language
(HumanEval and MBPP: "python"), so the CC configs' STL row has a model per language.

Results are cached per run: per sample under `<output_dir>/eval/` (an interrupted scoring
resumes) and as a whole in `<output_dir>/benchmarks.json` (`benchmarks-limitN.json` for
--limit N).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

CODE_SUITES = ("humaneval", "humaneval-x", "mbpp")
TASK_METRICS = ("qa_f1", "bleu", "perplexity")


@dataclass(frozen=True)
class BenchmarkOptions:
    limit: int | None = None  # the first N problems of each suite (quick checks)
    data_dir: str | None = None  # benchmark folder; default: eval.benchmarks.find_data_dir()
    max_new_tokens: int = 512
    batch_size: int = 8
    workers: int | None = None  # programs run at once; default the CPU count
    prompt_format: str = "auto"  # see eval.prompt_format


def check_names(names: list[str]) -> None:
    """Fail before any training on a name reproduce.benchmarks cannot score."""
    unknown = [n for n in names if n not in CODE_SUITES + TASK_METRICS]
    if unknown:
        raise ValueError(f"reproduce.benchmarks: unknown {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(CODE_SUITES + TASK_METRICS)}")


def named_by_metric(scores: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    """{method: {column: summary}} with suite columns named by their metric ("humaneval-x/cpp pass@1");
    task columns already are ("copy:f1")."""
    return {m: {(f"{k} pass@1" if "pass@1" in s else k): s for k, s in cols.items()} for m, cols in scores.items()}


def cache_path(output_dir: str, options: BenchmarkOptions) -> str:
    """Where a run's benchmark scores are cached (apart for --benchmark-limit runs)."""
    return os.path.join(output_dir, f"benchmarks-limit{options.limit}.json" if options.limit else "benchmarks.json")


def benchmark_scores(output_dir: str, tasks: dict[str, list[str]], names: list[str], options: BenchmarkOptions,
                     *, stl: bool = False) -> dict[str, dict]:
    """{column key: summary} of the run in `output_dir` (cached; see the module docstring)."""
    check_names(names)
    cache = cache_path(output_dir, options)
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)
    from eval.generation import GenerationConfig

    config = GenerationConfig(max_new_tokens=options.max_new_tokens, batch_size=options.batch_size)
    models = {t: os.path.join(output_dir, "stl", t, "best") for t in tasks} if stl else {None: os.path.join(output_dir, "best")}
    scores = _code_scores(output_dir, models, [n for n in names if n in CODE_SUITES], config, options)
    for metric in (n for n in names if n in TASK_METRICS):
        scores.update(_task_scores(output_dir, models, tasks, metric, config, options))
    with open(cache, "w") as f:
        json.dump(scores, f, indent=1)
    return scores


def _code_scores(output_dir: str, models: dict[str | None, str], names: list[str], config, options) -> dict:
    if not names:
        return {}
    from eval.benchmarks import load_suites
    from eval.pipeline import Evaluator
    from eval.sandbox import SandboxPool

    suites = load_suites(names, data_dir=options.data_dir)
    if options.limit:
        suites = [replace(s, problems=s.problems[: options.limit]) for s in suites]
    scores = {}
    with SandboxPool(options.workers) as pool:
        for task, model_dir in models.items():
            chosen = [s for s in suites if task is None or s.language == task]
            if chosen:
                name = "best" if task is None else f"stl-{task}"
                evaluator = Evaluator(chosen, Path(output_dir) / "eval", pool, progress=False)
                scores.update(evaluator.checkpoint(model_dir, name, config, prompt_format=options.prompt_format))
    return scores


def _task_scores(output_dir: str, models: dict[str | None, str], tasks: dict[str, list[str]], metric: str,
                 config, options) -> dict:
    from eval.task_files import score_checkpoint_tasks

    scores = {}
    for task, model_dir in models.items():
        chosen = tasks if task is None else {task: tasks[task]}
        name = "best" if task is None else f"stl-{task}"
        scores.update(score_checkpoint_tasks(model_dir, chosen, metric, config, Path(output_dir) / "eval" / name,
                                             options.prompt_format))
    return scores
