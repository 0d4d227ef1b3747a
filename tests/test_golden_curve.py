"""The demo model's golden loss curve: the first steps of a tiny deterministic run against a
committed curve (tests/golden/demo_loss_curve.json), as torchtune checks its recipes.

The run: configs/demo_cpu.json (the tiny Llama, its trained tokenizer, CoBa) on one process,
fp32, seed 42, with OVERRIDES below. Its initial validation losses check the tokenizer, data
pipeline and model initialisation before any step; its training losses add the loss, the
weighting and the optimizer.

Tolerance: TOLERANCE absolute on losses near 5. fp32 on CPU differs between machines only in
summation order (BLAS kernels, thread counts), about 1e-6 relative; a change to the data, the
tokenizer, the initialisation, the loss, the schedule or the optimizer moves these losses by more
than 1e-3 within ten steps.

A change that moves the curve changes what every run computes: its commit must say why the new
curve is right (a bug fixed, a deliberate change of the recipe, a library upgrade that draws the
initial weights differently; the file records the versions it was made with), and regenerate it with

    python tests/test_golden_curve.py        # rewrites tests/golden/demo_loss_curve.json
"""
import json
import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launch_helpers import read_metrics, run_train  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "demo_loss_curve.json")
STEPS = 10
TOLERANCE = 1e-4
OVERRIDES = [f"training.max_steps={STEPS}", "validation.interval=1000", "checkpoint.interval=0",
             "logging.interval=1", "logging.progress_bar=false", "logging.tensorboard=false",
             'weighting.params={"history_window": 4, "warmup_steps": 2}']


def demo_curve(workdir: str) -> dict:
    """The run's initial validation losses and its first STEPS training losses."""
    out = os.path.join(workdir, "out")
    run_train([f"output_dir={out}", f"data.cache_dir={os.path.join(workdir, 'cache')}"] + OVERRIDES, ranks=1)
    metrics = read_metrics(out)
    return {"initial_valid_loss": metrics[0]["valid_loss"],
            "loss": [r["loss"] for r in metrics if "loss" in r]}


def versions() -> dict:
    import deepspeed
    import torch
    import transformers
    return {"torch": torch.__version__, "transformers": transformers.__version__, "deepspeed": deepspeed.__version__}


@pytest.mark.distributed
def test_demo_loss_curve_matches_the_committed_one(tmp_path):
    with open(GOLDEN) as f:
        golden = json.load(f)
    assert golden["overrides"] == OVERRIDES and len(golden["loss"]) == STEPS
    got = demo_curve(str(tmp_path))
    assert got["initial_valid_loss"] == pytest.approx(golden["initial_valid_loss"], abs=TOLERANCE)
    assert got["loss"] == pytest.approx(golden["loss"], abs=TOLERANCE)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        curve = demo_curve(tmp)
    with open(GOLDEN, "w") as f:
        json.dump({"regenerate": "python tests/test_golden_curve.py", "config": "configs/demo_cpu.json",
                   "overrides": OVERRIDES, "made_with": versions(), **curve}, f, indent=1)
        f.write("\n")
    print(f"wrote {GOLDEN}: losses {curve['loss']}")
