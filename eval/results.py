"""Per-sample result files: one JSONL line per scored sample, appended as samples finish.

A run that stops part-way is resumed by reading the file back: finished samples are not
generated or run again. The settings that produced the samples live in a `settings.json`
beside the files; resuming with different settings is refused rather than mixed.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from .errors import EvalError
from .languages import Verdict

SETTINGS_FILE = "settings.json"


def check_settings(folder: Path, settings: dict[str, Any]) -> None:
    """Record `settings` in `folder`, or refuse if results made with other settings are there."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SETTINGS_FILE
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != settings:
            changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise EvalError(
                f"{folder} holds results made with other settings ({', '.join(changed)}); "
                f"give another --out or delete that folder"
            )
        return
    path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


class SampleStore:
    """The JSONL file of one suite of one source (checkpoint, sample file or references)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self.records: dict[tuple[str, int], dict] = {}
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interrupted run: that sample is redone
                self.records[(record["task_id"], record["sample"])] = record
            if lines and not path.read_text(encoding="utf-8").endswith("\n"):
                with open(path, "a", encoding="utf-8") as f:
                    f.write("\n")

    def done(self, task_id: str, sample: int) -> bool:
        return (task_id, sample) in self.records

    def add(self, task_id: str, sample: int, completion: str, verdict: Verdict, *, prompt: str | None = None) -> dict:
        """Append one scored sample (thread-safe) and return its record; `prompt` is the exact
        text the model was given (generated samples only)."""
        record = {
            "task_id": task_id,
            "sample": sample,
            **({} if prompt is None else {"prompt": prompt}),
            "completion": completion,
            "passed": verdict.passed,
            "failure": None if verdict.passed else verdict.kind,
            "detail": verdict.detail,
            "time_s": verdict.wall_s,
        }
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            self.records[(task_id, sample)] = record
        return record
