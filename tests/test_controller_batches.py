"""weighting.valid_batches (m) and the per-controller-step log, through the launcher on one rank.

With lr = 1e-12 the model does not move measurably, so a run that averages m = 2 stratified validation batches per
controller step must see exactly the token-weighted mean of the two batches that a run with m = 1
measures on its first two controller steps (the sampler's order is the same: same seed).
"""
import json
import os

import numpy as np
import pytest

from launch_helpers import run_train

pytestmark = pytest.mark.distributed


def _controller_log(output_dir) -> list[dict]:
    with open(os.path.join(output_dir, "controller.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_two_batches_average_token_weighted_and_every_controller_step_is_logged(tmp_path):
    common = [f"data.cache_dir={tmp_path / 'cache'}", "logging.progress_bar=false", "logging.interval=100",
              "validation.interval=100", "training.lr=1e-12", "training.min_lr=0", "training.warmup_steps=0",
              "weighting.method=coba"]
    one, two = tmp_path / "m1", tmp_path / "m2"
    run_train(common + [f"output_dir={one}", "training.max_steps=2", "weighting.update_interval=1"], ranks=1)
    run_train(common + [f"output_dir={two}", "training.max_steps=3", "weighting.update_interval=2",
                        "weighting.valid_batches=2"], ranks=1)
    singles, pairs = _controller_log(one), _controller_log(two)
    assert [r["step"] for r in singles] == [1, 2]
    assert [r["step"] for r in pairs] == [1, 3]  # controller steps only, although logging.interval is 100
    tasks = list(singles[0]["controller_valid_loss"])
    loss = np.array([[r["controller_valid_loss"][t] for t in tasks] for r in singles])
    tokens = np.array([[r["controller_tokens"][t] for t in tasks] for r in singles])
    got = np.array([pairs[0]["controller_valid_loss"][t] for t in tasks])
    assert np.all(tokens > 0) and not np.allclose(loss[0], loss[1])  # two different batches
    np.testing.assert_allclose(got, (loss * tokens).sum(0) / tokens.sum(0), rtol=1e-5)
    np.testing.assert_allclose([pairs[0]["controller_tokens"][t] for t in tasks], tokens.sum(0))
