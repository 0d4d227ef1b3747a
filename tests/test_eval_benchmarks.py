"""Benchmark files, prompts and the programs each harness assembles (the real sets where
$MFT_BENCHMARK_DIR names them, else the fixture in tests/fixtures/benchmarks)."""
from __future__ import annotations

import gzip
import json

import pytest

from benchmark_data import DATA, FIXTURE_DIR, REAL, benchmark_dir
from eval.benchmarks import find_data_dir, load_suites
from eval.benchmarks.files import ENV_VAR, READY_MARK
from eval.benchmarks.suite import Stop
from eval.errors import EvalError
from eval.generation import truncate

KEYS = ["humaneval", "humaneval-x/cpp", "humaneval-x/go", "humaneval-x/java", "humaneval-x/js", "humaneval-x/python",
        "mbpp"]


@pytest.fixture(scope="module")
def suites():
    return {s.key: s for s in load_suites(["humaneval", "humaneval-x", "mbpp"], data_dir=DATA)}


def test_sizes_and_ids(suites):
    assert sorted(suites) == KEYS
    sizes = {key: len(suite.problems) for key, suite in suites.items()}
    if REAL:
        assert sizes == {key: 500 if key == "mbpp" else 164 for key in KEYS}
    else:
        assert sizes == {key: 3 for key in KEYS}
    mbpp = suites["mbpp"]
    assert [p.task_id for p in mbpp.problems[:2]] == ["MBPP/11", "MBPP/12"]
    assert mbpp.problem(11) is mbpp.problem("11") is mbpp.problem("MBPP/11")
    assert mbpp.problem(3) is None  # a few-shot example, not a test problem
    assert suites["humaneval-x/js"].problem("js/1").task_id == "JavaScript/1"
    for key in KEYS[1:6]:  # HumanEval-X: the same problems in every language
        assert len(suites[key].problems) == len(suites["humaneval-x/python"].problems)


def test_mbpp_prompts(suites):
    first = suites["mbpp"].problems[0]
    prompt = first.prompt
    assert prompt.count("[DONE]") == 3 and prompt.endswith("[BEGIN]\n")
    shots = [json.loads(line) for line in open(DATA / "mbpp" / "mbpp.jsonl")][1:4]  # task ids 2, 3, 4
    assert [s["task_id"] for s in shots] == [2, 3, 4]
    positions = [prompt.index(s["text"]) for s in shots]
    assert positions == sorted(positions)
    assert prompt.startswith("You are an expert Python programmer, and here is your task: " + shots[0]["text"])
    assert first.record["test_list"][0] in prompt and prompt.index(first.record["text"]) > positions[-1]
    zero = load_suites(["mbpp"], data_dir=DATA, mbpp_prompt="zeroshot")[0].problems[0].prompt
    assert "[DONE]" not in zero and prompt.endswith(zero)


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
    assert suites["humaneval"].assemble(he, "C").endswith(f"\ncheck({he.record['entry_point']})\n")


def test_truncate_at_stop_sequences():
    python = (Stop("\ndef"), Stop("\nif"))
    assert truncate("    return x\n\ndef other():\n", python) == "    return x\n"
    assert truncate("    return x\nif __name__", python) == "    return x"
    assert truncate("    return x\n", python) == "    return x\n"
    brace = (Stop("\n}", keep=True),)
    assert truncate("  return 1;\n}\nint main() {}\n}", brace) == "  return 1;\n}"
    assert truncate("a[DONE]b\n[BEGIN]", (Stop("\n[BEGIN]"), Stop("[DONE]"))) == "a"  # the earliest wins


def test_missing_and_broken_files_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(EvalError, match="mbpp/mbpp.jsonl is missing; .*docs/evaluation.md.*--download-benchmarks"):
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
    (tmp_path / "mbpp").mkdir()
    lines = (FIXTURE_DIR / "mbpp" / "mbpp.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "mbpp" / "mbpp.jsonl").write_text("".join(lines[:1] + lines[2:]))  # task 2 is gone
    with pytest.raises(EvalError, match=r"lacks the few-shot examples \[2\]"):
        load_suites(["mbpp"], data_dir=tmp_path)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert find_data_dir() == tmp_path


def test_without_a_configured_folder_the_tests_read_the_fixture(tmp_path, monkeypatch):
    """A clean checkout (no $MFT_BENCHMARK_DIR, an empty HOME, any working folder) finds no real
    sets, so the benchmark tests read the fixture instead of skipping; a user's command gets a
    one-line error naming the download flag and the layout instead."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert find_data_dir() is None
    assert benchmark_dir() == FIXTURE_DIR
    with pytest.raises(EvalError) as error:
        load_suites(["humaneval"])
    message = str(error.value)
    assert "\n" not in message and "--download-benchmarks" in message and "docs/evaluation.md" in message
    cache = tmp_path / ".cache" / "mft" / "benchmarks"
    cache.mkdir(parents=True)
    assert find_data_dir() is None  # an interrupted download (no hub.json yet) is not a folder
    (cache / READY_MARK).write_text("{}")
    assert find_data_dir() == cache and benchmark_dir() == cache
