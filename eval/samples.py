"""Sample files made elsewhere: one ``{"task_id": ..., "completion": ...}`` object per line.

Several lines with one task id are several samples of it (numbered 0, 1, ... in file order).
Task ids name their benchmark: HumanEval/N, MBPP/N (or a bare N), and for HumanEval-X
Python/N, CPP/N, Java/N, JavaScript/N, Go/N.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

from .benchmarks import Problem, Suite
from .errors import EvalError

PREFIXES = {
    "HumanEval": ("humaneval", None), "MBPP": ("mbpp", None), "Python": ("humaneval-x", "python"),
    "CPP": ("humaneval-x", "cpp"), "Java": ("humaneval-x", "java"), "JavaScript": ("humaneval-x", "js"),
    "Go": ("humaneval-x", "go"),
}


def iter_samples(path: Path) -> Iterator[tuple[int, str | int, str]]:
    """(line number, task id, completion) of every sample, checking each line's shape."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalError(f"cannot read samples file {path} ({exc.strerror})")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            task_id, completion = record["task_id"], record["completion"]
        except (ValueError, KeyError, TypeError):
            raise EvalError(f'{path}:{number}: expected {{"task_id": ..., "completion": ...}}')
        if not isinstance(completion, str):
            raise EvalError(f"{path}:{number}: completion must be a string")
        yield number, task_id, completion


def benchmarks_of_samples(path: Path) -> tuple[list[str], list[str]]:
    """(benchmark names, HumanEval-X languages) that the task ids of a samples file belong to."""
    names: dict[str, None] = {}
    languages: dict[str, None] = {}
    for number, task_id, _ in iter_samples(path):
        prefix = "MBPP" if isinstance(task_id, int) or str(task_id).isdigit() else str(task_id).split("/")[0]
        if prefix not in PREFIXES:
            raise EvalError(f"{path}:{number}: task_id {task_id!r} belongs to no known benchmark; "
                            f"expected HumanEval/N, MBPP/N (or N), or Python/N, CPP/N, Java/N, JavaScript/N, Go/N")
        name, language = PREFIXES[prefix]
        names[name] = None
        if language:
            languages[language] = None
    if not names:
        raise EvalError(f"samples file {path} holds no samples")
    return list(names), list(languages)


def read_samples(path: Path, suites: Sequence[Suite]) -> dict[str, list[tuple[Problem, int, str]]]:
    """(problem, sample index, completion) of every sample, grouped by suite key."""
    by_suite: dict[str, list[tuple[Problem, int, str]]] = {}
    counts: dict[tuple[str, str], int] = {}
    for number, task_id, completion in iter_samples(path):
        match = next(((s, s.problem(task_id)) for s in suites if s.problem(task_id)), None)
        if match is None:
            names = ", ".join(s.key for s in suites)
            raise EvalError(f"{path}:{number}: task_id {task_id!r} is in none of the chosen benchmarks ({names})")
        suite, problem = match
        index = counts.get((suite.key, problem.task_id), 0)
        counts[(suite.key, problem.task_id)] = index + 1
        by_suite.setdefault(suite.key, []).append((problem, index, completion))
    return by_suite
