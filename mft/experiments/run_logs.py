"""A run's per-step logs as committed: `metrics.jsonl` / `controller.jsonl`, or gzipped (`.jsonl.gz`).

    records = read_log("docs/results/finetune_cpu/runs/coba", "metrics")   # either form
    compress_logs("docs/results/finetune_cpu/runs")                        # what docs/results commits

Per-step logs are most of a comparison's weight (56 MB over 155 runs as plain JSONL, 14 MB
gzipped, nothing dropped). The committed runs keep them gzipped; every reader goes through
`read_log`, so a run straight from the trainer (plain) and a committed one (gzipped) read the same.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil

def log_path(run_dir: str, name: str) -> str | None:
    """`<run_dir>/<name>.jsonl`, else `<run_dir>/<name>.jsonl.gz`, else None."""
    for path in (os.path.join(run_dir, f"{name}.jsonl"), os.path.join(run_dir, f"{name}.jsonl.gz")):
        if os.path.exists(path):
            return path
    return None


def read_jsonl_file(path: str) -> list[dict]:
    """The records of a JSONL file, gzip-compressed when its name ends in .gz."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_log(run_dir: str, name: str) -> list[dict]:
    """The records of a run's `name` log (`metrics` or `controller`), plain or gzipped; [] when the
    file is empty (a method without a controller writes an empty controller.jsonl)."""
    path = log_path(run_dir, name)
    if path is None:
        raise FileNotFoundError(f"{run_dir}: no {name}.jsonl or {name}.jsonl.gz; is it a run folder "
                                "(launch/train.py's output_dir)?")
    return read_jsonl_file(path)


def compress_logs(root: str) -> list[str]:
    """Gzip every plain `.jsonl` log under `root` in place (metrics, controller, a benchmark's own)
    with mtime 0, so the same log always gives the same bytes, and remove the plain file; returns
    the new paths."""
    done = []
    for folder, _, files in os.walk(root):
        for name in sorted(f for f in files if f.endswith(".jsonl")):
            plain = os.path.join(folder, name)
            packed = plain + ".gz"
            with open(plain, "rb") as src, open(packed, "wb") as raw, \
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as dst:
                shutil.copyfileobj(src, dst)
            os.remove(plain)
            done.append(packed)
    return sorted(done)
