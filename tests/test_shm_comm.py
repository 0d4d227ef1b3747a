"""A build lock left by a killed process must not hang every later DeepSpeed start on the machine."""
import os
import shutil
import subprocess
import sys
import time

import pytest

from mft.shm_comm import exclusive, extensions_root, load_comm_op, lock_holders, remove_stale_lock

from launch_helpers import ROOT, TRAIN, checkout_env, run_process
from test_cli_errors import _config, _records

HOLD = "import os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); print('ready', flush=True); time.sleep(60)"
FLOCK = ("import sys, time; from mft.shm_comm import exclusive\n"
         "with exclusive(sys.argv[1]):\n    print('ready', flush=True); time.sleep(60)")


def _start(code, *args):
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=checkout_env())
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_holders_are_the_live_processes_with_the_file_open(tmp_path):
    lock = tmp_path / "lock"
    lock.touch()
    assert lock_holders(str(lock)) == []
    proc = _start(HOLD, str(lock))
    try:
        assert lock_holders(str(lock)) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    assert lock_holders(str(lock)) == []


def test_only_an_old_lock_nobody_holds_is_removed(tmp_path):
    lock = tmp_path / "lock"
    assert not remove_stale_lock(str(lock))  # none there
    lock.touch()
    assert not remove_stale_lock(str(lock)) and lock.exists()  # too fresh: its owner may be deleting it now
    proc = _start(HOLD, str(lock))
    try:
        _age(lock, 600)
        assert not remove_stale_lock(str(lock)) and lock.exists()  # a live build holds it
    finally:
        proc.kill()
        proc.wait()
    assert remove_stale_lock(str(lock)) and not lock.exists()


def test_flock_waits_for_a_live_holder_and_not_for_a_killed_one(tmp_path):
    path = str(tmp_path / "mft.flock")
    proc = _start(FLOCK, path)
    waiter = subprocess.Popen([sys.executable, "-c", FLOCK, path], stdout=subprocess.PIPE, text=True, env=checkout_env())
    try:
        time.sleep(1.0)
        assert waiter.poll() is None and not _readable(waiter)  # still waiting for the holder
        proc.kill()  # kill -9: no clean-up code runs, the kernel drops the lock
        assert waiter.stdout.readline().strip() == "ready"
    finally:
        for p in (proc, waiter):
            p.kill()
            p.wait()
    with exclusive(path):  # free again once both are gone
        pass


def _readable(proc):
    import select
    return bool(select.select([proc.stdout], [], [], 0)[0])


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to see who holds a lock")
def test_training_starts_despite_a_stale_torch_build_lock(tmp_path):
    """A copy of the built op in a private TORCH_EXTENSIONS_DIR, with the lock a killed build leaves."""
    from deepspeed.accelerator import get_accelerator
    from torch.utils.cpp_extension import _get_build_directory

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is None:
        pytest.skip("this accelerator has no shared-memory comm op")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "PYTHONWARNINGS": "ignore"}
    # build (or find) the op in the machine's own cache first, so the copy below needs no compiler
    subprocess.run([sys.executable, "-c", "from mft.shm_comm import load_comm_op; load_comm_op()"],
                   cwd=ROOT, env=checkout_env(env), check=True, timeout=600, capture_output=True)
    root = extensions_root()  # where that process built it: this environment's folder
    built = os.path.join(root, builder.name) if root else _get_build_directory(builder.name, verbose=False)
    extensions = tmp_path / "extensions"
    shutil.copytree(built, extensions / builder.name, ignore=shutil.ignore_patterns("lock", "mft.flock"))
    stale = extensions / builder.name / "lock"
    stale.touch()
    _age(stale, 3600)

    config, _ = _config(tmp_path, _records(10))
    proc = run_process([sys.executable, TRAIN, "--config", config],
                       env={**env, "TORCH_EXTENSIONS_DIR": str(extensions)}, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"removed {stale}" in proc.stderr
    assert not stale.exists()


class FakeBuilder:
    """DeepSpeed's op builder as load_comm_op sees it; `load` writes the library, as a build does."""

    NAME = name = "fake_shm_comm"

    def __init__(self, events):
        self.events = events

    def load(self):
        from torch.utils.cpp_extension import _get_build_directory

        self.events.append(("load", os.environ.get("TORCH_EXTENSIONS_DIR")))
        folder = _get_build_directory(self.name, verbose=False)
        open(os.path.join(folder, f"{self.name}.so"), "w").close()


@pytest.fixture
def fake_builder(monkeypatch):
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator

    events = []
    monkeypatch.setattr(get_accelerator(), "create_op_builder", lambda name: FakeBuilder(events))
    monkeypatch.setitem(deepspeed.ops.__compatible_ops__, FakeBuilder.NAME, True)
    return events


def test_a_build_is_announced_before_it_starts_and_kept_in_the_environment(tmp_path, monkeypatch, fake_builder):
    """Inside a virtual environment (here a fake one in tmp_path) the op is built into it, with a
    line before the build; a second start finds the build and says nothing."""
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    (tmp_path / "venv").mkdir()
    monkeypatch.setattr("logging.Logger.warning", _recording_warning(fake_builder))  # in order with the load
    load_comm_op()
    folder = str(tmp_path / "venv" / "torch_extensions")
    assert fake_builder[0][0] == "announce" and f"compiling DeepSpeed's fake_shm_comm op" in fake_builder[0][1]
    assert fake_builder[1] == ("load", folder) and os.path.isfile(os.path.join(folder, "fake_shm_comm", "fake_shm_comm.so"))
    del fake_builder[:]
    load_comm_op()
    assert fake_builder == [("load", folder)]  # built: nothing to announce


def test_torch_extensions_dir_wins_over_the_environment_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "mine"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert extensions_root() == str(tmp_path / "mine")
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR")
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)  # no virtual environment: torch's default
    assert extensions_root() is None


def _recording_warning(events):
    def warning(self, message, *args, **kwargs):
        events.append(("announce", message))
    return warning
