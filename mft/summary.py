"""The end-of-run summary (summary.json and the lines printed on rank 0), and process memory figures."""
from __future__ import annotations

import json
import os

from .task_mix import mix_lines


def proc_status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB; None without /proc."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024.0
    except (OSError, StopIteration):
        return None


def live_tensor_mb() -> dict[str, float]:
    """MB of host memory held by the tensors Python can reach (each storage once), by dtype: what
    of a process's resident memory is tensors, and so the model states, rather than code and heap."""
    import gc

    import torch
    from torch._subclasses.fake_tensor import FakeTensor
    seen, by_dtype = set(), {}
    for obj in gc.get_objects():
        kind = type(obj)  # type(): no __class__ lookup on arbitrary objects
        if issubclass(kind, torch.Tensor) and not issubclass(kind, FakeTensor) and obj.device.type == "cpu":
            try:
                storage = obj.untyped_storage()
                address = storage.data_ptr()
            except (RuntimeError, NotImplementedError):  # no host memory behind it (torch.compile's tensors)
                continue
            if address in seen or storage.nbytes() == 0:
                continue
            seen.add(address)
            key = str(obj.dtype).removeprefix("torch.")
            by_dtype[key] = by_dtype.get(key, 0.0) + storage.nbytes() / 2**20
    return {k: round(v, 1) for k, v in sorted(by_dtype.items())}


def memory_trace(output_dir: str, rank: int, phase: str, facts: dict | None = None) -> float | None:
    """With MFT_MEMORY_TRACE=1, appends to `memory_trace.jsonl` this rank's resident memory at the end
    of a phase (VmRSS), its peak during the phase (VmHWM, then reset to VmRSS through
    /proc/self/clear_refs), the live tensors' share (`tensors_mb`, by dtype) and the caller's
    `facts` (after the model is built: the parameters this rank holds, see mft.model.model_facts);
    returns that peak (None without the variable), so the caller keeps the run's peak.
    benchmarks/zero_memory.py prints the records."""
    if os.environ.get("MFT_MEMORY_TRACE") != "1":
        return None
    record = {"rank": rank, "phase": phase, "rss_mb": proc_status_mb("VmRSS"), "peak_mb": proc_status_mb("VmHWM"),
              **(facts or {})}
    record["tensors_mb"] = live_tensor_mb()  # after the peak is read, before it is reset
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    with open(os.path.join(output_dir, "memory_trace.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")
    return record["peak_mb"]


def run_summary(output_dir: str, *, steps: int, stopped_early: bool, initial_valid_loss: dict,
                peak_rss_mb: float | None, checkpoints: str) -> dict:
    """Where everything is, and the best validation result (from best/mft_best.json)."""
    best_file = os.path.join(output_dir, "best", "mft_best.json")
    best = {}
    if os.path.exists(best_file):
        with open(best_file) as f:
            best = json.load(f)
    return {"steps": steps, "stopped_early": stopped_early, "peak_rss_mb": peak_rss_mb,
            "best_step": best.get("step"), "best_valid_mean_ratio": best.get("valid_mean_ratio"),
            "best_valid_loss": best.get("valid_loss"), "initial_valid_loss": initial_valid_loss,
            "metrics": os.path.join(output_dir, "metrics.jsonl"), "tensorboard": os.path.join(output_dir, "tensorboard"),
            "best_model": os.path.join(output_dir, "best"), "checkpoints": checkpoints}


def summary_text(summary: dict) -> str:
    lines = [f"done: {summary['steps']} steps" + (" (early stop)" if summary["stopped_early"] else "")]
    if summary["best_step"] is None:
        lines.append("no validation improvement recorded")
    else:
        lines.append(f"best step {summary['best_step']}: mean validation-loss ratio {summary['best_valid_mean_ratio']:.4f}")
        for task, loss in summary["best_valid_loss"].items():
            lines.append(f"  {task:>16}: valid loss {loss:.4f} (initial {summary['initial_valid_loss'][task]:.4f})")
    if summary.get("mix"):
        lines += mix_lines(summary["mix"])
    for event in summary.get("retired_tasks", []):
        rolled = f", rolled back to step {event['rolled_back_to']}" if "rolled_back_to" in event else ""
        lines.append(f"  retired {event['task']} at step {event['step']} (best at step {event['best_step']}{rolled})")
    lines += [f"curves: {summary['metrics']}  (tensorboard --logdir {summary['tensorboard']})",
              f"best model: {summary['best_model']}"]
    return "\n".join(lines)
