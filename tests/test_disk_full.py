"""A disk that fills during a run: a clear error, and the last good checkpoint is whole and resumable.

The output folder is a small tmpfs, so the kernel itself answers "No space left on device" in the
middle of DeepSpeed's writes (mounting one needs root, as on these machines and in CI).
"""
import os
import shutil
import subprocess

import pytest

from launch_helpers import read_metrics, run_train

needs_mount = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"),
                                 reason="mounting a small tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine refuses to mount a tmpfs")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


@needs_mount
def test_full_disk_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(small_disk, tmp_path):
    out = small_disk / "run"
    common = [f"data.cache_dir={tmp_path / 'cache'}", "logging.tensorboard=false", "logging.progress_bar=false",
              "training.max_steps=60", "checkpoint.interval=10", "checkpoint.keep_last=10",
              "validation.interval=1000"]
    proc = run_train([f"output_dir={out}"] + common, ranks=1, check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("mft: error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "no space left on device" in errors[0].lower() and "--resume" in errors[0], errors[0]
    checkpoints = out / "checkpoints"
    latest = (checkpoints / "latest").read_text().strip()
    assert latest in errors[0]  # the message names the checkpoint to resume from
    assert (checkpoints / latest / "trainer_state.json").exists()
    assert not [n for n in os.listdir(checkpoints) if n.startswith(".tmp")]  # the half-written one is gone
    saved_step = int(latest.split("_")[1])
    assert 10 <= saved_step < 60
    assert read_metrics(str(out))[-1]["step"] >= saved_step  # nothing logged so far was lost

    # with the disk freed (moved to a roomy one), --resume continues from it to the end
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    run_train([f"output_dir={moved}"] + common, ranks=1, resume="latest")
    assert read_metrics(str(moved))[-1]["step"] == 60
    assert (moved / "checkpoints" / "latest").read_text().strip() == "step_000060"
