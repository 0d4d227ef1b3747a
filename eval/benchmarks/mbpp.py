"""MBPP (Austin et al. 2021): the 500 test problems (task ids 11-510), scored by their 3 asserts.

A file with only some of a split's ids (the tests' fixture) gives the problems it has; the
summary's `total` says how many were scored.

Prompts, as in the paper: "You are an expert Python programmer, and here is your task: {text}
Your code should pass these tests:\\n\\n{the three asserts}\\n[BEGIN]\\n", preceded in the
3-shot form (the default) by tasks 2, 3 and 4 as worked examples that end "\\n[DONE]";
the zero-shot form leaves the examples out. Generation stops at "[DONE]".
Program: completion + "\\n" + test_setup_code + "\\n" + the three asserts (the setup code of
tasks 367 and 927 uses a class the solution defines, so it cannot come first).
Task ids are "MBPP/<n>"; the bare number (int or string) is accepted too.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import EvalError
from .files import read_jsonl, require_file, require_keys
from .suite import Problem, Stop, Suite

FILE = "mbpp/mbpp.jsonl"
SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}
FEW_SHOT_IDS = (2, 3, 4)
PROMPT_STYLES = ("3shot", "zeroshot")
STOPS = (Stop("[DONE]"), Stop("\n[BEGIN]"), Stop("\nYou are an expert Python programmer"))


def task_block(record: dict) -> str:
    tests = "\n".join(record["test_list"])
    return (f"You are an expert Python programmer, and here is your task: {record['text']} "
            f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n")


def build_prompt(record: dict, shots: list[dict]) -> str:
    examples = "".join(task_block(s) + s["code"].strip() + "\n[DONE]\n" for s in shots)
    return examples + task_block(record)


def assemble(problem: Problem, completion: str) -> str:
    r = problem.record
    # test_setup_code (tasks 367 and 927 only) builds objects of a class the solution defines
    setup = (r.get("test_setup_code") or "").replace("\r\n", "\n")
    return completion + "\n" + setup + "\n" + "\n".join(r["test_list"]) + "\n"


def load(data_dir: Path, prompt_style: str = "3shot", split: str = "test") -> Suite:
    if prompt_style not in PROMPT_STYLES:
        raise EvalError(f"unknown MBPP prompt style {prompt_style!r}; choose from {', '.join(PROMPT_STYLES)}")
    if split not in SPLITS:
        raise EvalError(f"unknown MBPP split {split!r}; choose from {', '.join(SPLITS)}")
    path = require_file(data_dir, FILE)
    records = read_jsonl(path)
    require_keys(path, records, ("task_id", "text", "code", "test_list"))
    by_id = {int(r["task_id"]): r for r in records}
    chosen = [i for i in SPLITS[split] if i in by_id]
    missing = [i for i in FEW_SHOT_IDS if i not in by_id]
    if missing or not chosen:
        what = f"the few-shot examples {missing}" if missing else f"every task id of the {split} split"
        raise EvalError(f"{path} lacks {what}; use the full 974-problem file (docs/evaluation.md, Benchmark files)")
    shots = [by_id[i] for i in FEW_SHOT_IDS] if prompt_style == "3shot" else []
    problems = tuple(Problem(f"MBPP/{i}", build_prompt(by_id[i], shots), by_id[i]["code"], by_id[i]) for i in chosen)
    aliases = {str(i): f"MBPP/{i}" for i in chosen}
    return Suite("mbpp", "python", problems, STOPS, assemble, aliases)
