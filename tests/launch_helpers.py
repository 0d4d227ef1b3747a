"""Run launch/train.py as users do: plain python for one rank; for several, `torchrun
--nproc_per_node N` (the default here) or `deepspeed --num_gpus N` (the README's command).

Both launchers give each rank the environment the trainer reads (RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR/PORT, the node's rank count). Most tests use torchrun because DeepSpeed's runner and
its per-node launcher each import all of DeepSpeed before a rank starts: a 2-step demo run on 2
ranks took 1.65x as long through `deepspeed` (benchmarks/launcher_startup.py measures it). The tests of what only the DeepSpeed launcher does (the README's demo run, the
launcher's report of a killed rank, two nodes from a hostfile) launch through it."""
from __future__ import annotations

import contextlib
import filecmp
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo_cpu.json")
TRAIN = os.path.join(ROOT, "launch", "train.py")


def checkout_env(env: dict | None = None) -> dict:
    """`env` (default: this process's) with this checkout first on PYTHONPATH, so that a script the
    tests start imports the packages under test, not another installed copy."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
    return env


def load_script(name: str, folder: str = "launch"):
    """<folder>/<name>.py (a launch or benchmark script) as a module, to call its functions."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, folder, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_generator_reproduces(generate, shipped: str, out_dir) -> None:
    """`generate(out_dir, seed=0)` writes exactly the files committed in `shipped`, byte for byte."""
    generate(str(out_dir), seed=0)
    names = sorted(os.listdir(out_dir))
    assert names == sorted(os.listdir(shipped))
    _, mismatch, errors = filecmp.cmpfiles(out_dir, shipped, names, shallow=False)
    assert not mismatch and not errors


def exchanges(folder: str, task: str, split: str) -> list[tuple[str, str]]:
    """(prompt, answer) of every record of a generated task file <folder>/<task>.<split>.jsonl,
    whatever its schema (plain, chat or MFTCoder)."""
    out = []
    with open(os.path.join(folder, f"{task}.{split}.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "prompt" in r:
                out.append((r["prompt"], r["completion"]))
            else:
                turns = r.get("messages") or r["chat_rounds"]
                out.append((turns[0]["content"], turns[1]["content"]))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_train(overrides: list[str], *, ranks: int, config: str = DEMO, resume: str | None = None,
              extra: tuple[str, ...] = (), timeout: int = 600, check: bool = True,
              gpu: bool = False, launcher: str = "torchrun") -> subprocess.CompletedProcess:
    """CPU ranks over gloo, or with `gpu` the machine's CUDA devices (DeepSpeed picks the accelerator).
    `launcher` ("torchrun" or "deepspeed") starts several ranks."""
    cmd, env = _command(overrides, ranks=ranks, config=config, resume=resume, extra=extra, gpu=gpu,
                        launcher=launcher)
    proc = run_process(cmd, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"training failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def run_process(cmd: list[str], *, env: dict, timeout: float) -> subprocess.CompletedProcess:
    """subprocess.run, except that a timeout kills the whole process group (launcher and ranks alike):
    a rank left running would hold its port, memory and locks, and slow or hang the tests after it."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=checkout_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"timed out after {timeout} s: {' '.join(cmd)}\n{out[-3000:]}\n{err[-3000:]}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def start_train(overrides: list[str], *, ranks: int, log: str, config: str = DEMO) -> subprocess.Popen:
    """The same run in the background through `deepspeed`, its output going to `log` (for tests that
    kill a rank and check what the launcher reports)."""
    cmd, env = _command(overrides, ranks=ranks, config=config, resume=None, extra=(), gpu=False,
                        launcher="deepspeed")
    with open(log, "w") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=checkout_env(env), stdout=out, stderr=subprocess.STDOUT)


def run_two_nodes(overrides: list[str], *, root: str, config: str = DEMO, resume: str | None = None,
                  timeout: int = 600) -> list[subprocess.CompletedProcess]:
    """Two nodes of one rank each, simulated on this machine as users launch them on a cluster
    without ssh: `deepspeed --hostfile H --no_ssh --node_rank i --master_addr ... launch/train.py`,
    once per node. Each node has its own $MFT_CACHE (token and tokenizer cache), TMPDIR and
    TORCH_EXTENSIONS_DIR under <root>/node<i>; they share only the output folder the overrides name.
    A node's extension folder starts with this machine's build of DeepSpeed's comm op, as on a node
    that has run before (compiling it twice would take minutes); without one, each node builds its own."""
    hostfile = os.path.join(root, "hostfile")
    os.makedirs(root, exist_ok=True)
    with open(hostfile, "w") as f:
        f.write("node0 slots=1\nnode1 slots=1\n")
    cmd, env = _command(overrides, ranks=2, config=config, resume=resume, extra=(), gpu=False,
                        launcher="deepspeed")
    port = str(free_port())
    procs, logs = [], []
    for node in (0, 1):
        local = os.path.join(root, f"node{node}")
        node_env = {**env, "MFT_CACHE": os.path.join(local, "cache"), "TMPDIR": os.path.join(local, "tmp"),
                    "TORCH_EXTENSIONS_DIR": os.path.join(local, "torch_extensions")}
        node_env.pop("XDG_CACHE_HOME", None)
        _seed_extensions(node_env["TORCH_EXTENSIONS_DIR"])
        os.makedirs(node_env["TMPDIR"], exist_ok=True)
        node_cmd = [cmd[0], "--hostfile", hostfile, "--no_ssh", "--node_rank", str(node),
                    "--master_addr", "127.0.0.1", "--master_port", port, *cmd[cmd.index(TRAIN):]]
        logs.append(os.path.join(root, f"node{node}.log"))
        with open(logs[-1], "w") as log:
            procs.append(subprocess.Popen(node_cmd, cwd=ROOT, env=checkout_env(node_env), stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))
    finished = _wait_for_nodes(procs, timeout=timeout)
    results = []
    for proc, log in zip(procs, logs):
        with open(log) as f:
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, f.read(), ""))
    failed = [f"node {node} failed ({proc.returncode}):\n{proc.stdout[-5000:]}"
              for node, proc in enumerate(results) if proc.returncode != 0]
    if failed:
        raise AssertionError(("" if finished else f"killed after {timeout} s or a node's failure\n") + "\n".join(failed))
    return results


def _wait_for_nodes(procs: list[subprocess.Popen], *, timeout: float, grace_s: float = 30.0) -> bool:
    """Wait for every node's launcher; kill them all (whole process groups) at the timeout, or
    `grace_s` after one failed: the others would wait for it until the process group timed out.
    False when they were killed."""
    deadline, failed_at = time.monotonic() + timeout, None
    while any(p.poll() is None for p in procs):
        now = time.monotonic()
        if failed_at is None and any(p.poll() not in (None, 0) for p in procs):
            failed_at = now
        if now > deadline or (failed_at is not None and now - failed_at > grace_s):
            for p in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
            for p in procs:
                p.wait()
            return False
        time.sleep(0.5)
    return True


def _seed_extensions(folder: str) -> None:
    """Copy this machine's build of DeepSpeed's CPU comm op into a node's own extension folder."""
    from torch.utils.cpp_extension import _get_build_directory

    name = "deepspeed_shm_comm"
    built = _get_build_directory(name, verbose=False)
    target = os.path.join(folder, name)
    if os.path.isfile(os.path.join(built, f"{name}.so")) and not os.path.exists(target):
        shutil.copytree(built, target, ignore=shutil.ignore_patterns("lock", "mft.flock"))


def _command(overrides, *, ranks, config, resume, extra, gpu, launcher):
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning,ignore::UserWarning", "TOKENIZERS_PARALLELISM": "false"}
    if not gpu:
        env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")
    args = ["--config", config, *extra] + [a for o in overrides for a in ("--set", o)]
    if resume:
        args += ["--resume", resume]
    if ranks == 1:
        env.pop("RANK", None)
        cmd = [sys.executable, TRAIN, *args]
    elif launcher == "deepspeed":
        runner = os.path.join(os.path.dirname(sys.executable), "deepspeed")
        cmd = [runner, "--num_gpus", str(ranks), "--master_port", str(free_port()), TRAIN, *args]
    elif launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks),
               "--master_port", str(free_port()), TRAIN, *args]
    else:
        raise ValueError(f"launcher: 'torchrun' or 'deepspeed', got {launcher!r}")
    return cmd, env


def shm_buffers() -> set[str]:
    """DeepSpeed's shared-memory all-reduce buffers now in /dev/shm (a finished run must leave none)."""
    folder = "/dev/shm"
    return {n for n in os.listdir(folder) if n.startswith("deepspeed_allreduce_buffer")} if os.path.isdir(folder) else set()


def pid_of_rank(rank: int, marker: str) -> int | None:
    """The pid of a run's rank `rank` (`marker`: a string in its command line, e.g. its output folder)."""
    out = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if marker in line and f"--local_rank={rank}" in line and "launch/train.py" in line:
            return int(line.split()[0])
    return None


def read_metrics(output_dir: str) -> list[dict]:
    with open(os.path.join(output_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def final_params(output_dir: str, tag: str | None = None) -> dict:
    """fp32 parameters of the latest checkpoint (or of checkpoint `tag`), whatever the ZeRO stage."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    ckpt = os.path.join(output_dir, "checkpoints")
    if tag is None:
        with open(os.path.join(ckpt, "latest")) as f:
            tag = f.read().strip()
    return get_fp32_state_dict_from_zero_checkpoint(ckpt, tag=tag)


def model_built(output_dir: str) -> dict[int, dict]:
    """Each rank's memory-trace record right after the model was built (runs with MFT_MEMORY_TRACE=1):
    the parameters it holds, the whole model's, their dtypes, gradient checkpointing."""
    with open(os.path.join(output_dir, "memory_trace.jsonl")) as f:
        records = [json.loads(line) for line in f]
    return {r["rank"]: r for r in records if r["phase"] == "model built"}
