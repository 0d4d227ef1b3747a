"""What a rollback needs from checkpoints and logs, without DeepSpeed: several protected steps,
dropping the abandoned branch (with `latest` moved first), and cutting the metrics back."""
import json

from test_checkpoint_and_metrics import FakeEngine

from mft.checkpoint import Checkpointer
from mft.metrics_log import MetricsLog


def test_pruning_spares_every_protected_step(tmp_path):
    ckpt = Checkpointer(str(tmp_path), rank=0, keep_last=1)
    for step in (10, 20, 30, 40, 50):
        ckpt.save(FakeEngine(), step, {"step": step}, protect_step={10, 30})  # e.g. two tasks' best steps
    assert sorted(ckpt.steps()) == [10, 30, 50]


def test_drop_after_deletes_the_abandoned_branch_and_points_latest_back(tmp_path):
    ckpt = Checkpointer(str(tmp_path), rank=0, keep_last=5)
    for step in (10, 20, 30):
        ckpt.save(FakeEngine(), step, {"step": step})
    ckpt.drop_after(20)
    assert sorted(ckpt.steps()) == [10, 20]
    assert ckpt.latest() == str(tmp_path / "step_000020")
    ckpt.drop_after(15)
    assert sorted(ckpt.steps()) == [10] and ckpt.latest() == str(tmp_path / "step_000010")


def test_rewind_forgets_the_records_after_the_step_and_keeps_appending(tmp_path):
    log = MetricsLog(str(tmp_path), enabled=True, tensorboard=True)
    for step in range(1, 6):
        log.log({"step": step, "loss": 1.0})
    log.rewind(2)
    log.log({"step": 2, "rollback_from": 5})
    log.log({"step": 3, "loss": 2.0})
    log.close()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 2, 3] and rows[-1]["loss"] == 2.0
