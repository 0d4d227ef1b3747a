"""Checkpoint retention and the metrics file, without DeepSpeed (a fake engine writes the files)."""
import json
import os

from mft.checkpoint import Checkpointer
from mft.metrics_log import MetricsLog


class FakeEngine:
    def save_checkpoint(self, root, tag, save_latest, exclude_frozen_parameters=False):
        assert save_latest is False  # mft writes `latest` itself, after the folder is complete
        os.makedirs(os.path.join(root, tag), exist_ok=True)
        with open(os.path.join(root, tag, "model.pt"), "w") as f:
            f.write(tag)


def test_keep_last_never_deletes_the_best(tmp_path):
    ckpt = Checkpointer(str(tmp_path), rank=0, keep_last=2)
    for step in (10, 20, 30, 40):
        ckpt.save(FakeEngine(), step, {"step": step}, protect_step=20)
    assert sorted(ckpt.steps()) == [20, 30, 40]
    assert ckpt.latest() == str(tmp_path / "step_000040")
    assert json.loads((tmp_path / "step_000040" / "trainer_state.json").read_text()) == {"step": 40}
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


def test_metrics_jsonl_strict_json_and_cut_back_on_resume(tmp_path):
    log = MetricsLog(str(tmp_path), enabled=True, tensorboard=True)
    for step in range(1, 6):
        log.log({"step": step, "loss": 1.0 / step, "task_loss": {"a": float("nan"), "b": 2.0}})
    log.close()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["task_loss"] == {"a": None, "b": 2.0}
    assert "NaN" not in lines[0]
    assert os.listdir(tmp_path / "tensorboard")
    resumed = MetricsLog(str(tmp_path), enabled=True, tensorboard=False, resume_step=3)
    resumed.log({"step": 4, "loss": 9.0})
    resumed.close()
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_disabled_log_writes_nothing(tmp_path):
    log = MetricsLog(str(tmp_path / "x"), enabled=False, tensorboard=True)
    log.log({"step": 1, "loss": 1.0})
    log.close()
    assert not (tmp_path / "x").exists()


class FailingEngine(FakeEngine):
    """Writes part of a checkpoint, then the disk is full."""

    def save_checkpoint(self, root, tag, save_latest, exclude_frozen_parameters=False):
        os.makedirs(os.path.join(root, tag), exist_ok=True)
        with open(os.path.join(root, tag, "half.pt"), "w") as f:
            f.write("partial")
        raise OSError(28, "No space left on device")


def test_failed_save_keeps_the_last_good_checkpoint(tmp_path):
    import pytest
    from mft.checkpoint import CheckpointError

    ckpt = Checkpointer(str(tmp_path), rank=0, keep_last=2)
    ckpt.save(FakeEngine(), 10, {"step": 10})
    with pytest.raises(CheckpointError) as err:
        ckpt.save(FailingEngine(), 20, {"step": 20})
    message = str(err.value)
    assert "No space left on device" in message and "step_000010" in message and "--resume" in message
    assert ckpt.latest() == str(tmp_path / "step_000010")
    assert sorted(os.listdir(tmp_path)) == ["latest", "step_000010"]  # nothing half-written left
    assert (tmp_path / "step_000010" / "model.pt").exists() and (tmp_path / "step_000010" / "trainer_state.json").exists()
