"""From training to the paper's table: a few demo training steps, launch/reproduce.py scoring the
selected checkpoint on HumanEval and MBPP (3 problems each), and the per-sample files showing the
prompts in the format the model was trained on."""
from __future__ import annotations

import json
import os
import sys

import pytest

from data_pipeline import load_tokenizer
from data_pipeline.encode import Encoder
from data_pipeline.records import Turn
from benchmark_data import DATA
from eval.benchmarks import load_suites
from launch_helpers import ROOT, run_process

pytestmark = pytest.mark.distributed


def reproduce(out, cache, *extra: str):
    cmd = [sys.executable, f"{ROOT}/launch/reproduce.py", "--config", f"{ROOT}/configs/compare_cpu.json",
           "--out", str(out), "--methods", "uniform", "--ranks", "1", "--limit", "3",
           "--max-new-tokens", "24", "--workers", "2", "--data-dir", str(DATA),
           "--set", "training.max_steps=4", "--set", "validation.interval=2", "--set", f"data.cache_dir={cache}",
           "--set", 'reproduce.benchmarks=["humaneval", "mbpp"]', *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = run_process(cmd, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_reproduce_scores_benchmarks_in_the_trained_prompt_format(tmp_path):
    out = tmp_path / "repro"
    reproduce(out, tmp_path / "cache")
    report = (out / "report.md").read_text()
    assert "## Benchmarks" in report and "| method | humaneval pass@1 | mbpp pass@1 | average |" in report
    row = next(line for line in report.splitlines() if line.startswith("| uniform |") and line.count("|") == 5)
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    run = out / "runs" / "uniform"
    best = run / "best"
    assert json.loads((best / "prompt_format.json").read_text())["chat_template"] == "auto"  # the trainer's record
    tokenizer = load_tokenizer(str(best))
    encoder = Encoder(tokenizer, "auto")
    suites = {s.key: s for s in load_suites(["humaneval", "mbpp"], data_dir=DATA)}
    for column, key in enumerate(("humaneval", "mbpp")):
        lines = [json.loads(x) for x in (run / "eval" / "best" / f"{key}.jsonl").read_text().splitlines()]
        assert len(lines) == 3
        # the table's cell is the pass@1 of these samples (a 4-step tiny model passes none: the point is the pipeline)
        assert float(cells[column]) == pytest.approx(100 * sum(x["passed"] for x in lines) / 3, abs=0.05)
        for line in lines:
            text = suites[key].problem(line["task_id"]).prompt
            ids, mask = encoder.encode([Turn("user", text), Turn("assistant", "x")])  # how training encodes it
            assert line["prompt"] == tokenizer.decode(ids[:mask.index(1)], skip_special_tokens=False)
            assert line["prompt"].startswith("<s><|user|>\n") and line["prompt"].endswith("\n<|assistant|>\n")
    scores = json.loads((out / "scores.json").read_text())["uniform"]["benchmarks"]
    assert set(scores) == {"humaneval", "mbpp"} and scores["mbpp"]["total"] == 3
    # a second run reuses the cached scores: no sample is generated or run again
    before = (run / "eval" / "best" / "humaneval.jsonl").read_text()
    reproduce(out, tmp_path / "cache")
    assert (run / "eval" / "best" / "humaneval.jsonl").read_text() == before
    assert (out / "report.md").read_text().split("## Benchmarks")[1] == report.split("## Benchmarks")[1]
