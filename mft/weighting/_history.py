"""Preallocated NumPy histories for controllers whose per-step cost must not grow with the step count."""
from __future__ import annotations

import math

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


class ExpSumHistory(GrowingVector):
    """A growing history h(0..n-1) that also answers

        L(c) = log sum_s exp(c * (h(n-1) - h(s)))

    (the log of 1 / softmax(-c * h)[last]) in O(1) amortised time while c changes slowly, as
    CoBa's divergence factor needs with c = tau * n / sum|h| (coba_math._n_times_last_softmax).

    How: a summary taken at some c0 (a "rebase", one O(n) pass) keeps, with ref = min h at the
    rebase, u_s = c0 * (h(s) - ref) and w_s = exp(-u_s) <= 1, the moments M_k = sum_s w_s * u_s^k
    for k < m = TERMS and A = sum_s w_s * |u_s|^m; later values are added to them as they come. For
    c = c0 * (1 + d), with T(d) the sum below (>= 1, its ref term being exp(0)):

        sum_s exp(-c * (h(s) - ref)) = sum_s w_s * exp(-d * u_s) = sum_{k<m} (-d)^k / k! * M_k + R.

    Each term's Taylor remainder is at most w_s * (|d u_s|)^m / m! * e^(|d u_s|); splitting the
    terms at |u_s| = U (values with u < -U force a rebase, so only u_s > U >= 2m lie above, where
    w_s * u_s^m * e^(|d| u_s) <= U^m * e^(-(1-|d|) U)) gives

        |R| <= |d|^m / m! * (e^(|d| U) * A + n * U^m * e^(-(1-|d|) U)),

    which is checked against TOL * T at every query (with |d| * U <= 1); past it the query
    rebases at the current c. Since c drifts by O(1/n) a step, rebases come every O(n) steps:
    constant cost amortised. Below MIN_CACHED values a direct pass is cheaper: the query answers
    None and keeps no summary.

    ``cache_state``/``load_cache_state`` carry the summary through a checkpoint, so a resumed run
    makes the same rebase decisions and gives the same bits as an uninterrupted one.
    """

    TERMS = 10           # m, Taylor terms kept
    SPLIT = 40.0         # U
    TOL = 1e-15          # bound on |R| / T
    MIN_CACHED = 4096    # shorter histories take the direct pass

    def __init__(self, capacity: int = 1024) -> None:
        super().__init__(capacity)
        self._cache: dict | None = None  # c0, ref, count, moments (M_0..M_{m-1}, then A)
        self._work = np.empty((2, 0))    # scratch for rebases
        self.rebases = 0                 # number of O(n) summaries taken (for benchmarks)

    def append(self, value: float) -> None:
        super().append(value)
        cache = self._cache
        if cache is None:
            return
        u = cache["c0"] * (float(value) - cache["ref"])
        if u < -self.SPLIT:
            self._cache = None
            return
        p = math.exp(-u)
        moments = cache["moments"]
        for k in range(self.TERMS):
            moments[k] += p
            p *= u
        moments[self.TERMS] += abs(p)
        cache["count"] += 1

    def log_sum_exp_to_last(self, c: float) -> float | None:
        """log sum_s exp(c * (h(n-1) - h(s))) for a finite c > 0, to a few ulps of a direct pass;
        None while the history is shorter than MIN_CACHED (a direct pass is cheaper there)."""
        h = self.view()
        n = h.size
        if n < self.MIN_CACHED:
            return None
        total = self._taylor(c, n)
        if total is None:
            self._rebase(h, c)
            total = self._cache["moments"][0]
        return c * (float(h[-1]) - self._cache["ref"]) + math.log(total)

    def _taylor(self, c: float, n: int) -> float | None:
        """T(d) from the summary, or None if there is none or the bound on R fails."""
        cache = self._cache
        if cache is None:
            return None
        d = abs(c / cache["c0"] - 1.0)
        m, big_u = self.TERMS, self.SPLIT
        if d * big_u > 1.0:
            return None
        moments = cache["moments"]
        total, term = 0.0, 1.0
        for k in range(m):  # sum_k (-d)^k / k! * M_k
            total += term * moments[k]
            term *= (cache["c0"] - c) / cache["c0"] / (k + 1)
        bound = abs(term) * (math.exp(d * big_u) * moments[m] + n * big_u ** m * math.exp(-(1 - d) * big_u))
        return total if bound <= self.TOL * total else None

    def _rebase(self, h: np.ndarray, c: float) -> None:
        n = h.size
        if self._work.shape[1] < n:  # reused: page faults on fresh arrays would cost more than the pass
            self._work = np.empty((2, self._buf.size))
        u, p = self._work[0, :n], self._work[1, :n]
        ref = float(h.min())
        np.subtract(h, ref, out=u)
        u *= c
        np.negative(u, out=p)
        np.exp(p, out=p)
        moments = []
        for k in range(self.TERMS + 1):
            if k:
                p *= u
            moments.append(float(p.sum()))
        self._cache = {"c0": float(c), "ref": ref, "count": n, "moments": moments}
        self.rebases += 1

    def cache_state(self) -> dict | None:
        """The summary as plain floats (None if there is none), for a checkpoint."""
        return None if self._cache is None else {**self._cache, "moments": list(self._cache["moments"])}

    def load_cache_state(self, state: dict | None) -> None:
        """Restore ``cache_state()``; ignored unless it covers exactly the loaded history."""
        ok = (isinstance(state, dict) and state.get("count") == len(self)
              and len(state.get("moments", ())) == self.TERMS + 1)
        self._cache = ({"c0": float(state["c0"]), "ref": float(state["ref"]), "count": len(self),
                        "moments": [float(m) for m in state["moments"]]} if ok else None)

    def load(self, values: list[float]) -> None:
        super().load(values)
        self._cache = None
