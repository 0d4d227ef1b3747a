"""launch/reproduce.py --num-seeds 2 end to end: two methods x two seeds of a few demo steps on one rank,
each seed its own run (different weights), the table with mean ± sd and the seed count, the paired
CoBa - uniform comparison, and a second call that reuses every run and score."""
from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest

from launch_helpers import ROOT, run_process

pytestmark = pytest.mark.distributed
TASKS = ("copy", "addition", "reverse")


def reproduce(out, cache, tests):
    cmd = [sys.executable, f"{ROOT}/launch/reproduce.py", "--config", f"{ROOT}/configs/compare_cpu.json",
           "--out", str(out), "--methods", "uniform,coba", "--ranks", "1", "--num-seeds", "2",
           "--set", "training.max_steps=3", "--set", "validation.interval=3", "--set", f"data.cache_dir={cache}",
           "--set", 'reproduce.overrides={"coba": {"weighting.params.warmup_steps": 0, '
                    '"weighting.params.history_window": 2}}']
    for i, path in enumerate(tests):  # two test records per task keep the scoring short
        cmd += ["--set", f"data.tasks.{i}.test={json.dumps([path])}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = run_process(cmd, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_seeds_two_methods(tmp_path):
    tests = []
    for task in TASKS:
        with open(f"{ROOT}/configs/demo_data/{task}.test.jsonl") as f:
            head = [next(f) for _ in range(2)]
        (tmp_path / f"{task}.jsonl").write_text("".join(head))
        tests.append(str(tmp_path / f"{task}.jsonl"))
    out = tmp_path / "repro"
    reproduce(out, tmp_path / "cache", tests)
    runs = out / "runs"
    assert sorted(os.listdir(runs)) == ["coba", "coba.seed43", "uniform", "uniform.seed43"]
    first, second = ([json.loads(x) for x in (runs / name / "metrics.jsonl").read_text().splitlines()]
                     for name in ("uniform", "uniform.seed43"))
    assert first[0]["valid_loss"] != second[0]["valid_loss"]  # another seed, another initialisation
    report = (out / "report.md").read_text()
    assert "| seeds |" in report.splitlines()[6]
    table, paired = report.split("## Against uniform, paired by seed")
    rows = [line for line in table.splitlines() if line.startswith(("| uniform |", "| coba |"))]
    assert len(rows) == 2 and all(r.endswith("| 2 |") and "±" in r for r in rows)
    paired, mix = paired.split("## Realised task mix")  # the paired section, then the realised mix
    assert "| coba | proportional |" in mix
    paired = [line for line in paired.splitlines() if line.startswith("| coba |")]
    assert len(paired) == 1 and paired[0].endswith("| 2 |") and paired[0].count("[") == 1 + len(tests)
    assert "the mean curve over 2 seeds" in report
    scores = json.loads((out / "scores.json").read_text())
    assert scores["coba"]["seeds"] == [42, 43] and len(scores["coba"]["runs"]) == 2
    for name in os.listdir(runs):  # each score traces to the weights it was computed on
        run = json.loads((runs / name / "scores.json").read_text())
        weights = (runs / name / "best" / "model.safetensors").read_bytes()
        assert run["weights"] == {"model.safetensors": hashlib.sha256(weights).hexdigest()}
        for task in run["tasks"].values():
            assert task["tokens"] > 0 and task["loss"] == pytest.approx(task["loss_sum"] / task["tokens"])
    mtimes = {p: os.path.getmtime(runs / p / "scores.json") for p in os.listdir(runs)}
    reproduce(out, tmp_path / "cache", tests)  # everything is cached: nothing trains or scores again
    assert {p: os.path.getmtime(runs / p / "scores.json") for p in os.listdir(runs)} == mtimes
    assert (out / "report.md").read_text() == report
