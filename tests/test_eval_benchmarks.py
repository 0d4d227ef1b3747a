"""Benchmark files, prompts and the programs each harness assembles (data from ../shared/data)."""
from __future__ import annotations

import gzip
import json

import pytest

from eval.benchmarks import find_data_dir, load_suites
from eval.benchmarks.files import ENV_VAR
from eval.benchmarks.suite import Stop
from eval.errors import EvalError
from eval.generation import truncate

DATA = find_data_dir()
needs_data = pytest.mark.skipif(
    DATA is None or not DATA.is_dir(),
    reason=f"benchmark data not found: set {ENV_VAR} or put it at ../shared/data (see eval/benchmarks/files.py)",
)


@pytest.fixture(scope="module")
def suites():
    return {s.key: s for s in load_suites(["humaneval", "humaneval-x", "mbpp"], data_dir=DATA)}


@needs_data
def test_sizes_and_ids(suites):
    assert sorted(suites) == ["humaneval", "humaneval-x/cpp", "humaneval-x/go", "humaneval-x/java",
                              "humaneval-x/js", "humaneval-x/python", "mbpp"]
    for key, suite in suites.items():
        assert len(suite.problems) == (500 if key == "mbpp" else 164), key
    mbpp = suites["mbpp"]
    assert [p.task_id for p in mbpp.problems[:2]] == ["MBPP/11", "MBPP/12"] and mbpp.problems[-1].task_id == "MBPP/510"
    assert mbpp.problem(11) is mbpp.problem("11") is mbpp.problem("MBPP/11")
    assert mbpp.problem(5) is None  # a few-shot example, not a test problem
    assert suites["humaneval-x/js"].problem("js/3").task_id == "JavaScript/3"


@needs_data
def test_mbpp_prompts(suites):
    prompt = suites["mbpp"].problem(11).prompt
    assert prompt.count("[DONE]") == 3 and prompt.endswith("[BEGIN]\n")
    shots = [json.loads(line) for line in open(DATA / "mbpp" / "mbpp.jsonl")][1:4]  # task ids 2, 3, 4
    assert [s["task_id"] for s in shots] == [2, 3, 4]
    positions = [prompt.index(s["text"]) for s in shots]
    assert positions == sorted(positions)
    assert prompt.startswith("You are an expert Python programmer, and here is your task: " + shots[0]["text"])
    assert "assert remove_Occ(\"hello\",\"l\") == \"heo\"" in prompt
    zero = load_suites(["mbpp"], data_dir=DATA, mbpp_prompt="zeroshot")[0].problem(11).prompt
    assert "[DONE]" not in zero and prompt.endswith(zero)


@needs_data
def test_codegeex_assembly(suites):
    go = suites["humaneval-x/go"].problem("Go/0")
    program = suites["humaneval-x/go"].assemble(go, go.reference)
    assert program.startswith("package main\n") and 'import (\n"math"\n)' in program
    assert program.count("import (") == 2  # the prompt's own import block is replaced
    cpp = suites["humaneval-x/cpp"].problem("CPP/0")
    program = suites["humaneval-x/cpp"].assemble(cpp, cpp.reference)
    assert "#include<algorithm>\n" in program and program.count("#include<vector>") == 1
    py = suites["humaneval-x/python"].problem("Python/0")
    program = suites["humaneval-x/python"].assemble(py, "    return True\nprint('top level code is cut')\n")
    assert "top level code" not in program and program.startswith("import math\n")
    java = suites["humaneval-x/java"].problem("Java/0")
    assert suites["humaneval-x/java"].assemble(java, "X") == java.prompt + "X\n" + java.record["test"]
    he = suites["humaneval"].problem("HumanEval/0")
    assert suites["humaneval"].assemble(he, "C").endswith("\ncheck(has_close_elements)\n")


def test_truncate_at_stop_sequences():
    python = (Stop("\ndef"), Stop("\nif"))
    assert truncate("    return x\n\ndef other():\n", python) == "    return x\n"
    assert truncate("    return x\nif __name__", python) == "    return x"
    assert truncate("    return x\n", python) == "    return x\n"
    brace = (Stop("\n}", keep=True),)
    assert truncate("  return 1;\n}\nint main() {}\n}", brace) == "  return 1;\n}"
    assert truncate("a[DONE]b\n[BEGIN]", (Stop("\n[BEGIN]"), Stop("[DONE]"))) == "a"  # the earliest wins


def test_missing_and_broken_files_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(EvalError, match="mbpp/mbpp.jsonl"):
        load_suites(["mbpp"], data_dir=tmp_path)
    with pytest.raises(EvalError, match="does not exist"):
        load_suites(["humaneval"], data_dir=tmp_path / "nowhere")
    (tmp_path / "humaneval").mkdir()
    with gzip.open(tmp_path / "humaneval" / "HumanEval.jsonl.gz", "wt") as f:
        f.write('{"task_id": "HumanEval/0"}\n{not json\n')
    with pytest.raises(EvalError, match=r"HumanEval.jsonl.gz:2: not valid JSON"):
        load_suites(["humaneval"], data_dir=tmp_path)
    with pytest.raises(EvalError, match="unknown benchmark 'apps'"):
        load_suites(["apps"], data_dir=tmp_path)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert find_data_dir() == tmp_path
