"""Metrics: one JSON object per logged step in `<output_dir>/metrics.jsonl`, mirrored to TensorBoard.

A record is flat scalars plus one level of {task: value} dicts, e.g.
`{"step": 10, "loss": 2.3, "task_loss": {"copy": 1.2}, "weights": {"copy": 0.4}}`; TensorBoard gets
`loss` and `task_loss/copy`. On resume the file is cut back to the resumed step, so a resumed run's
metrics equal those of a run that never stopped.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any


class MetricsLog:
    def __init__(self, output_dir: str, *, enabled: bool, tensorboard: bool, resume_step: int | None = None,
                 filename: str = "metrics.jsonl"):
        self.enabled = enabled
        self.path = os.path.join(output_dir, filename)
        self._writer = None
        self._tensorboard = os.path.join(output_dir, "tensorboard") if tensorboard else None
        if not enabled:
            return
        os.makedirs(output_dir, exist_ok=True)
        if resume_step is None:
            open(self.path, "w").close()
        else:
            self._truncate_after(resume_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self._writer = SummaryWriter(self._tensorboard, purge_step=None if resume_step is None else resume_step + 1)
        self._file = open(self.path, "a", encoding="utf-8")

    def rewind(self, step: int) -> None:
        """Forget every record after `step`, as a resume there would (a rollback to `step`)."""
        if not self.enabled:
            return
        self._file.close()
        self._truncate_after(step)
        self._file = open(self.path, "a", encoding="utf-8")
        if self._writer is not None:
            from torch.utils.tensorboard import SummaryWriter
            self._writer.close()
            self._writer = SummaryWriter(self._tensorboard, purge_step=step + 1)

    def _truncate_after(self, step: int) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            kept = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(kept)
        os.replace(tmp, self.path)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._file.write(json.dumps(_finite_or_null(record), allow_nan=False) + "\n")
        self._file.flush()
        if self._writer is not None:
            step = record["step"]
            for key, value in record.items():
                if key == "step":
                    continue
                if isinstance(value, dict):
                    for sub, v in value.items():
                        self._scalar(f"{key}/{sub}", v, step)
                else:
                    self._scalar(key, value, step)

    def _scalar(self, tag: str, value: Any, step: int) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self._writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            if self._writer is not None:
                self._writer.close()


def _finite_or_null(value: Any) -> Any:
    """NaN and infinity (a task absent from a step) become null: strict JSON for any reader."""
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
