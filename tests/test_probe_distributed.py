"""weighting.probe = fixed on 2 CPU ranks (started by torchrun, launch_helpers): every controller step measures the
same rows (the same scored tokens per task), and the ranks agree on the weights."""
import pytest

from launch_helpers import read_metrics, run_train

pytestmark = pytest.mark.distributed


def test_fixed_probe_measures_the_same_rows_at_every_controller_step_on_two_ranks(tmp_path):
    out = tmp_path / "fixed"
    run_train([f"output_dir={out}", f"data.cache_dir={tmp_path / 'cache'}", "logging.progress_bar=false",
               "logging.interval=1", "training.max_steps=6", "validation.interval=100", "checkpoint.interval=0",
               "weighting.probe=fixed", "weighting.valid_batches=2",
               'weighting.params={"history_window": 4, "warmup_steps": 2}'], ranks=2)
    steps = [r for r in read_metrics(str(out)) if "controller_tokens" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert all(r["controller_tokens"] == steps[0]["controller_tokens"] for r in steps)
    assert all(r["weights_rank_spread"] == 0.0 for r in steps)
    losses = [r["controller_valid_loss"]["copy"] for r in steps]
    assert len(set(losses)) == len(losses)  # the same rows, a model that changes
