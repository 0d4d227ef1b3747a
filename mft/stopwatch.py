"""Named wall-clock totals for the parts of a step (logged as `time_s` in metrics.jsonl: the mean
seconds per step of each part since the previous record)."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator


class Stopwatch:
    def __init__(self) -> None:
        self._totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def time(self, name: str | None) -> Iterator[None]:
        """Add the duration of the block to `name` (None: not timed)."""
        if name is None:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self._totals[name] += time.perf_counter() - start

    def add(self, name: str, seconds: float) -> None:
        self._totals[name] += seconds

    def pop_mean(self, count: int) -> dict[str, float]:
        """The totals since the last pop divided by `count` (steps), then reset."""
        out = {name: total / count for name, total in self._totals.items()}
        self._totals.clear()
        return out
