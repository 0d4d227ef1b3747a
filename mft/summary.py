"""The end-of-run summary (summary.json and the lines printed on rank 0), and process memory figures."""
from __future__ import annotations

import json
import os


def proc_status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB; None without /proc."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024.0
    except (OSError, StopIteration):
        return None


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
    lines += [f"curves: {summary['metrics']}  (tensorboard --logdir {summary['tensorboard']})",
              f"best model: {summary['best_model']}"]
    return "\n".join(lines)
