"""Preallocated NumPy histories: an append does not copy the past, a read is a view."""
from __future__ import annotations

import numpy as np


class TrailingWindow:
    """The last ``size`` columns of a (rows, t) history, appended one column per step.

    Stored in a (rows, 2 * size) buffer; when it fills, the last ``size - 1`` columns move to the
    front, so an append costs O(rows) amortised and ``last(m)`` is a view, never a copy.
    """

    def __init__(self, rows: int, size: int) -> None:
        if size < 1:
            raise ValueError(f"TrailingWindow size must be >= 1, got {size}")
        self.size = size
        self._buf = np.zeros((rows, 2 * size))
        self._end = 0  # columns [end - filled, end) are live
        self._filled = 0

    def __len__(self) -> int:
        return self._filled

    def append(self, column: np.ndarray) -> None:
        if self._end == self._buf.shape[1]:
            keep = self.size - 1
            self._buf[:, :keep] = self._buf[:, self._end - keep:self._end]
            self._end = keep
        self._buf[:, self._end] = column
        self._end += 1
        self._filled = min(self._filled + 1, self.size)

    def last(self, m: int) -> np.ndarray:
        """View of the last m columns (m <= len(self)), oldest first."""
        if not 0 <= m <= self._filled:
            raise IndexError(f"asked for the last {m} columns of a window holding {self._filled}")
        return self._buf[:, self._end - m:self._end]

    def tolist(self) -> list[list[float]]:
        return self.last(self._filled).tolist()

    def load(self, columns: list[list[float]]) -> None:
        """Replace the contents with ``columns`` given as rows x m (m <= size), as ``tolist`` returns."""
        arr = np.asarray(columns, dtype=np.float64).reshape(self._buf.shape[0], -1)
        m = arr.shape[1]
        if m > self.size:
            raise ValueError(f"{m} columns do not fit a window of {self.size}")
        self._buf[:] = 0.0
        self._buf[:, :m] = arr
        self._end = self._filled = m

    state_dict, load_state_dict = tolist, load  # checkpoint protocol (``state.STATEFUL``)


class GrowingVector:
    """A 1-D float64 history that grows by doubling: O(1) amortised append, ``view()`` without copy."""

    def __init__(self, capacity: int = 1024) -> None:
        self._buf = np.zeros(max(1, capacity))
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, value: float) -> None:
        if self._n == self._buf.size:
            grown = np.zeros(2 * self._buf.size)
            grown[:self._n] = self._buf
            self._buf = grown
        self._buf[self._n] = value
        self._n += 1

    def view(self) -> np.ndarray:
        return self._buf[:self._n]

    def tolist(self) -> list[float]:
        return self.view().tolist()

    def load(self, values: list[float]) -> None:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
        self._buf = np.zeros(max(1024, 2 * arr.size))
        self._buf[:arr.size] = arr
        self._n = arr.size

    state_dict, load_state_dict = tolist, load  # checkpoint protocol (``state.STATEFUL``)
