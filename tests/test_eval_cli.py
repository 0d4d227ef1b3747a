"""launch/evaluate.py end to end on a small benchmark folder the test writes itself.

Covers --samples (scores, failure kinds, per-sample files, summary, table), resuming, refusing
to mix settings, --canonical, and one-line errors.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark_data import DATA
from eval_helpers import toolchains_or_skip
from launch_helpers import checkout_env

REPO = Path(__file__).resolve().parents[1]
EVALUATE = REPO / "launch" / "evaluate.py"

TOY_PROBLEMS = [
    {
        "task_id": "HumanEval/0",
        "prompt": 'def add(a, b):\n    """Return the sum of a and b."""\n',
        "entry_point": "add",
        "canonical_solution": "    return a + b\n",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    },
    {
        "task_id": "HumanEval/1",
        "prompt": 'def sub(a, b):\n    """Return a minus b."""\n',
        "entry_point": "sub",
        "canonical_solution": "    return a - b\n",
        "test": "def check(candidate):\n    assert candidate(5, 3) == 2\n",
    },
]


def write_toy_benchmarks(folder: Path) -> Path:
    """A benchmark folder with a two-problem HumanEval file; returns the folder."""
    (folder / "humaneval").mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "humaneval" / "HumanEval.jsonl.gz", "wt", encoding="utf-8") as f:
        for record in TOY_PROBLEMS:
            f.write(json.dumps(record) + "\n")
    return folder


def evaluate(*args: str, check: bool = True, home: Path | None = None) -> subprocess.CompletedProcess:
    env = checkout_env({k: v for k, v in os.environ.items() if k != "MFT_BENCHMARK_DIR"})
    if home is not None:  # a user without the Hub download cache
        env = {**{k: v for k, v in env.items() if k != "XDG_CACHE_HOME"}, "HOME": str(home)}
    result = subprocess.run([sys.executable, str(EVALUATE), "--no-progress", *args], capture_output=True, text=True,
                            env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    return result


def last_json(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_samples(path: Path, rows: list[tuple]) -> Path:
    path.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in rows))
    return path


def test_samples_are_scored_with_failure_kinds(tmp_path):
    data = write_toy_benchmarks(tmp_path / "data")
    samples = write_samples(tmp_path / "model.jsonl", [
        ("HumanEval/0", "    return a + b\n"),
        ("HumanEval/0", "    return a * b\n"),  # a second sample of the same task
        ("HumanEval/1", "    return (\n"),
    ])
    out = tmp_path / "out"
    summary = last_json(evaluate("--samples", str(samples), "--data-dir", str(data), "--out", str(out)))
    assert summary == {"humaneval": {"pass@1": 0.25, "passed": 1, "total": 3, "problems": 2,
                                     "failures": {"compile_error": 1, "wrong_answer": 1}}}
    records = [json.loads(line) for line in (out / "model" / "humaneval.jsonl").read_text().splitlines()]
    assert sorted((r["task_id"], r["sample"], r["passed"], r["failure"]) for r in records) == [
        ("HumanEval/0", 0, True, None), ("HumanEval/0", 1, False, "wrong_answer"), ("HumanEval/1", 0, False, "compile_error")]
    assert json.loads((out / "summary.json").read_text()) == summary
    table = (out / "results.md").read_text()
    assert "| checkpoint | humaneval | average |" in table and "| model | 25.0 | 25.0 |" in table


def test_resume_skips_finished_samples_and_refuses_other_settings(tmp_path):
    data = write_toy_benchmarks(tmp_path / "data")
    samples = write_samples(tmp_path / "s.jsonl", [("HumanEval/0", "    return a + b\n"), ("HumanEval/1", "    return a - b\n")])
    out = tmp_path / "out"
    first = last_json(evaluate("--samples", str(samples), "--data-dir", str(data), "--out", str(out)))
    results = out / "s" / "humaneval.jsonl"
    lines = results.read_text().splitlines()
    # an interrupted run: one finished line, one cut short
    kept = [line for line in lines if '"HumanEval/0"' in line]
    results.write_text(kept[0] + "\n" + '{"task_id": "HumanEval/1", "sam')
    second = last_json(evaluate("--samples", str(samples), "--data-dir", str(data), "--out", str(out)))
    assert second == first == {"humaneval": {"pass@1": 1.0, "passed": 2, "total": 2, "problems": 2, "failures": {}}}
    records = [json.loads(line) for line in results.read_text().splitlines() if line.startswith("{") and line.endswith("}")]
    assert [r["task_id"] for r in records] == ["HumanEval/0", "HumanEval/1"]  # only the missing one was redone
    assert records[0] == json.loads(kept[0])

    write_samples(samples, [("HumanEval/0", "    return 0\n")])
    refused = evaluate("--samples", str(samples), "--data-dir", str(data), "--out", str(out), check=False)
    assert refused.returncode == 2 and "other settings (sha256)" in refused.stderr


def test_user_errors_are_one_line(tmp_path):
    data = write_toy_benchmarks(tmp_path / "data")
    bad = write_samples(tmp_path / "bad.jsonl", [("HumanEval/0", "x"), ("HumanEval/99", "x")])
    result = evaluate("--samples", str(bad), "--data-dir", str(data), "--out", str(tmp_path / "o"), check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"mft: error: {bad}:2: task_id 'HumanEval/99' is in none of the chosen "
                                     "benchmarks (humaneval)")
    result = evaluate("--canonical", "--benchmarks", "humaneval", "--data-dir", str(tmp_path / "nowhere"), check=False)
    assert result.returncode == 2 and result.stderr.startswith("mft: error: benchmark folder") and "--data-dir" in result.stderr
    result = evaluate("--canonical", "--benchmarks", "mbpp", "--data-dir", str(data), check=False)
    assert result.returncode == 2 and "mbpp/mbpp.jsonl is missing" in result.stderr
    result = evaluate("--canonical", "--benchmarks", "humaneval", check=False, home=tmp_path)  # no folder at all
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no benchmark folder" in result.stderr and "--download-benchmarks" in result.stderr
    result = evaluate("--checkpoints", str(tmp_path), "--benchmarks", "humaneval", "--data-dir", str(data), check=False)
    assert result.returncode == 2 and "no Hugging Face model folder" in result.stderr


def test_canonical_on_real_data(tmp_path):
    """The real sets where $MFT_BENCHMARK_DIR names them, else the fixture in their layout."""
    toolchains_or_skip("python", "js")
    result = evaluate("--canonical", "--benchmarks", "humaneval,humaneval-x,mbpp", "--languages", "python,js",
                      "--limit", "3", "--data-dir", str(DATA), "--out", str(tmp_path / "out"))
    summary = last_json(result)
    assert summary["humaneval"]["passed"] == 3 and summary["mbpp"]["total"] == 3
    assert set(summary["humaneval-x"]) == {"python", "js"}
    assert all(s["pass@1"] == 1.0 for s in [summary["humaneval"], summary["mbpp"], *summary["humaneval-x"].values()])
