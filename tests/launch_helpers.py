"""Run launch/train.py as users do: `deepspeed --num_gpus N` for several ranks, plain python for one."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo_cpu.json")
TRAIN = os.path.join(ROOT, "launch", "train.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_train(overrides: list[str], *, ranks: int, config: str = DEMO, resume: str | None = None,
              extra: tuple[str, ...] = (), timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess:
    cmd, env = _command(overrides, ranks=ranks, config=config, resume=resume, extra=extra)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"training failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def start_train(overrides: list[str], *, ranks: int, log: str, config: str = DEMO) -> subprocess.Popen:
    """The same run in the background, its output going to `log` (for tests that interrupt it)."""
    cmd, env = _command(overrides, ranks=ranks, config=config, resume=None, extra=())
    with open(log, "w") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _command(overrides, *, ranks, config, resume, extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu",
           "PYTHONWARNINGS": "ignore::FutureWarning,ignore::UserWarning", "TOKENIZERS_PARALLELISM": "false"}
    args = ["--config", config, *extra] + [a for o in overrides for a in ("--set", o)]
    if resume:
        args += ["--resume", resume]
    if ranks == 1:
        env.pop("RANK", None)
        cmd = [sys.executable, TRAIN, *args]
    else:
        launcher = os.path.join(os.path.dirname(sys.executable), "deepspeed")
        cmd = [launcher, "--num_gpus", str(ranks), "--master_port", str(free_port()), TRAIN, *args]
    return cmd, env


def read_metrics(output_dir: str) -> list[dict]:
    with open(os.path.join(output_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def final_params(output_dir: str) -> dict:
    """fp32 parameters of the latest checkpoint, whatever the ZeRO stage."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    ckpt = os.path.join(output_dir, "checkpoints")
    with open(os.path.join(ckpt, "latest")) as f:
        tag = f.read().strip()
    return get_fp32_state_dict_from_zero_checkpoint(ckpt, tag=tag)
