"""HumanEval-X (Zheng et al. 2023, CodeGeeX): HumanEval in Python, C++, Java, JavaScript and Go.

Programs are assembled as CodeGeeX's `process_humaneval_test` does:
- python: the completion is cut at its first non-indented line; a block of imports (the
  harness's IMPORT_HELPER, numpy included) + prompt + completion + "\\n" + test (which calls check);
- cpp: the helper #includes the prompt lacks + "\\n" + prompt + completion + "\\n" + test;
- java, js: prompt + completion + "\\n" + test;
- go: test_setup (package main, testing, testify) + "\\n" + an import block of the helper
  packages the completion uses (`pkg.` appears in it) and test_setup lacks + "\\n" + the prompt
  without its own import block + completion + "\\n" + test.
Stop sequences: the Python ones of HumanEval; for the brace languages a closing brace at the
start of a line ends the function (Java: the class), and is kept in the completion.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import EvalError
from .files import read_jsonl, require_file, require_keys
from .humaneval import PYTHON_STOPS
from .suite import Problem, Stop, Suite

LANGUAGES = ("python", "cpp", "java", "js", "go")
TASK_PREFIX = {"python": "Python", "cpp": "CPP", "java": "Java", "js": "JavaScript", "go": "Go"}
BRACE_STOPS = (Stop("\n}", keep=True),)

PYTHON_IMPORTS = (
    "import math", "import re", "import sys", "import copy", "import datetime", "import itertools",
    "import collections", "import heapq", "import functools", "import hashlib", "import numpy",
    "import numpy as np", "import string", "from typing import *", "from collections import *",
)
CPP_INCLUDES = (
    "#include<stdlib.h>", "#include<algorithm>", "#include<math.h>", "#include<stdio.h>",
    "#include<vector>", "#include<string>", "#include<climits>", "#include<cstring>", "#include<iostream>",
)
GO_PACKAGES = ("math", "strings", "fmt", "strconv", "time", "bytes", "regexp", "sort", "math/rand", "crypto/md5")


def assemble_python(problem: Problem, completion: str) -> str:
    kept = []
    for line in completion.split("\n"):
        if line.strip() and line[0] not in " \t":
            break
        kept.append(line)
    r = problem.record
    return "\n".join(PYTHON_IMPORTS) + "\n" + r["prompt"] + "\n".join(kept) + "\n" + r["test"] + "\n"


def assemble_cpp(problem: Problem, completion: str) -> str:
    r = problem.record
    setup = "".join(include + "\n" for include in CPP_INCLUDES if include not in r["prompt"])
    return setup + "\n" + r["prompt"] + completion + "\n" + r["test"]


def assemble_plain(problem: Problem, completion: str) -> str:
    r = problem.record
    return r["prompt"] + completion + "\n" + r["test"]


def assemble_go(problem: Problem, completion: str) -> str:
    r = problem.record
    prompt = r["prompt"].replace(r["import"], "")
    setup = r["test_setup"]
    used = [f'"{pkg}"' for pkg in GO_PACKAGES if pkg not in setup and pkg.split("/")[-1] + "." in completion]
    imports = "import (\n" + "    ".join(p + "\n" for p in used) + ")" if used else ""
    head = setup + "\n" + imports + "\n" if imports else setup + "\n"
    return head + prompt + completion + "\n" + r["test"]


ASSEMBLERS = {
    "python": assemble_python, "cpp": assemble_cpp, "java": assemble_plain, "js": assemble_plain, "go": assemble_go,
}
REQUIRED = ("task_id", "prompt", "canonical_solution", "test")


def load(data_dir: Path, language: str) -> Suite:
    if language not in LANGUAGES:
        raise EvalError(f"HumanEval-X has no language {language!r}; choose from {', '.join(LANGUAGES)}")
    path = require_file(data_dir, f"humaneval-x/humaneval_{language}.jsonl.gz")
    records = read_jsonl(path)
    require_keys(path, records, REQUIRED + (("import", "test_setup") if language == "go" else ()))
    problems = tuple(Problem(r["task_id"], r["prompt"], r["canonical_solution"], r) for r in records)
    aliases = {f"{language}/{p.task_id.split('/')[-1]}": p.task_id for p in problems}
    stops = PYTHON_STOPS if language == "python" else BRACE_STOPS
    return Suite("humaneval-x", language, problems, stops, ASSEMBLERS[language], aliases)
