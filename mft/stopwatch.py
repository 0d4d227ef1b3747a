"""Named wall-clock totals for the parts of a step (logged as `time_s` in metrics.jsonl)."""
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

    def pop(self) -> dict[str, float]:
        """The totals since the last pop, then reset."""
        out = dict(self._totals)
        self._totals.clear()
        return out
