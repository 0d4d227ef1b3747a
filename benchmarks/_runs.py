"""Shared by the benchmarks: run launch/train.py on the demo config and read its metrics."""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo_cpu.json")
TRAIN = os.path.join(ROOT, "launch", "train.py")


def train(output_dir: str, overrides: list[str], *, ranks: int = 2, config: str = DEMO, gpu: bool = False,
          launcher: str = "deepspeed") -> list[dict]:
    """One training run (ranks > 1: through `launcher`, "deepspeed" or "torchrun"); returns
    metrics.jsonl's records. CPU ranks unless `gpu` (then DeepSpeed picks the CUDA accelerator itself)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if not gpu:
        env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")
    args = ["--config", config, "--set", f"output_dir={output_dir}", "--set", "logging.progress_bar=false",
            "--set", "logging.interval=1"] + [a for o in overrides for a in ("--set", o)]
    if ranks == 1:
        cmd = [sys.executable, TRAIN, *args]
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if launcher == "deepspeed":
            cmd = [os.path.join(os.path.dirname(sys.executable), "deepspeed"), "--num_gpus", str(ranks),
                   "--master_port", str(port), TRAIN, *args]
        elif launcher == "torchrun":
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks),
                   "--master_port", str(port), TRAIN, *args]
        else:
            raise ValueError(f"launcher: 'deepspeed' or 'torchrun', got {launcher!r}")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"run failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(output_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")
