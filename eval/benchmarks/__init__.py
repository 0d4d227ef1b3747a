"""Benchmarks by name: `load_suites(["humaneval-x"], languages=["cpp"])` -> list of Suite."""
from __future__ import annotations

import os
from typing import Sequence

from ..errors import EvalError
from ..languages import canonical_language
from . import humaneval, humaneval_x, mbpp
from .files import find_data_dir, resolve_data_dir
from .suite import Problem, Stop, Suite

BENCHMARKS = ("humaneval", "humaneval-x", "mbpp")


def load_suites(
    names: Sequence[str],
    *,
    data_dir: str | os.PathLike | None = None,
    languages: Sequence[str] | None = None,
    mbpp_prompt: str = "3shot",
    mbpp_split: str = "test",
) -> list[Suite]:
    """The suites of the named benchmarks; `languages` selects HumanEval-X's (default: all five)."""
    root = resolve_data_dir(data_dir)
    suites = []
    for name in names:
        key = name.lower()
        if key == "humaneval":
            suites.append(humaneval.load(root))
        elif key == "humaneval-x":
            chosen = [canonical_language(lang) for lang in languages] if languages else list(humaneval_x.LANGUAGES)
            suites += [humaneval_x.load(root, lang) for lang in chosen]
        elif key == "mbpp":
            suites.append(mbpp.load(root, mbpp_prompt, mbpp_split))
        else:
            raise EvalError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    return suites


__all__ = ["BENCHMARKS", "Problem", "Stop", "Suite", "find_data_dir", "load_suites", "resolve_data_dir"]
