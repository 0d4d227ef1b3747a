"""CoBa, the Convergence Balancer (Gong et al., arXiv 2410.06741): the controller that keeps the
loss-ratio and slope histories and calls the equations in ``coba_math``.

Two variants, side by side (docs/design.md, "CoBa"); "paper" is the default:

- ratio denominators l_i(0): paper, the first ``update``'s losses; mftcoder, the losses given to
  ``start()`` (a full validation pass before training), or the first update's if it was not called.
- warm-up: paper, uniform weights for t <= W; mftcoder, uniform for c < W, computed from c = W.
- DF input per step: paper, max_i alpha_i(s) for s = W+1..t; mftcoder, the slope of the
  max-over-tasks ratio curve for steps W..c (no window on this history in either variant).
- DF: paper, min(n * softmax(...)[t], 1); mftcoder, n * softmax(...)[c], unclipped (can exceed 1).
- ACS window: paper, the last min(N, t+1) slopes; mftcoder, the last min(c-W+1, N-W+1).
- final weights: paper, DF*RCS + (1-DF)*ACS; mftcoder, softmax(K * (DF*RCS + (1-DF)*ACS)), then
  0.9 w + 0.1/K for every task if any w < 1/(10K).

Both: r_i(t) = l_i(t) / l_i(0); alpha_i(t) = OLS slope of r_i over the last min(N, t+1) steps
(0 at t = 0); RCS as in the paper; zero denominators give uniform RCS, a 0 logit in ACS, DF = 1.
MFTCoder's fit drops points where a task was absent, misaligning x and y; that is not reproduced
(the stratified controller batch holds every task).

Cost per update: the slope fits touch only the last N ratios (O(K*N)); DF's softmax over the whole
history is one O(n) NumPy pass (about 165 us at n = 1e5, against training steps of tens of ms);
the DF denominator sum|h| is a running sum. Never a refit of old slopes.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from numbers import Real
from typing import Any

import numpy as np

from . import coba_math as cm
from .base import Needs, Signals, WeightingMethod, register
from .common import is_int
from .history import GrowingVector, TrailingWindow

logger = logging.getLogger(__name__)

VARIANTS = ("paper", "mftcoder")
# The paper's ablations, each removing one component by fixing DF: without RCS, DF = 0 leaves
# w = ACS; without ACS, DF = 1 leaves w = RCS; without DF, both scores are mixed equally.
ABLATED_DF = {"rcs": 0.0, "acs": 1.0, "df": 0.5}
ABLATIONS = tuple(ABLATED_DF)
_STATE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class CoBaParams:
    """CoBa's hyper-parameters; the paper's defaults are N = 2M, W = M, tau = 5 with M the number
    of validation batches, which is what ``"auto"`` means."""

    variant: str = dataclasses.field(default="paper", metadata={"choices": VARIANTS})  # "paper" (docs/design.md's reading) or "mftcoder" (authors' code)
    history_window: int | str = "auto"    # N: steps per slope fit and in the ACS window; "auto" = 2M
    warmup_steps: int | str = "auto"      # W: uniform while t <= W ("mftcoder": c < W); "auto" = M
    tau: float = 5.0                      # DF temperature: larger = sharper reaction to a rising slope
    num_valid_batches: int | None = None  # M, needed only by "auto"; the trainer passes it
    ablate: str = dataclasses.field(default="", metadata={"choices": ("",) + ABLATIONS})  # "rcs" (w = ACS), "acs" (w = RCS), "df" (DF = 1/2)

    def __post_init__(self) -> None:
        if isinstance(self.tau, bool) or not isinstance(self.tau, Real) or not math.isfinite(self.tau):
            raise ValueError(f"weighting.tau must be a finite number > 0, got {self.tau!r}")
        if self.tau <= 0:
            raise ValueError(f"weighting.tau must be > 0, got {self.tau!r}")
        if self.num_valid_batches is not None and not (is_int(self.num_valid_batches)
                                                       and self.num_valid_batches >= 1):
            raise ValueError(f"weighting.num_valid_batches must be an integer >= 1 or None, "
                             f"got {self.num_valid_batches!r}")
        for key, minimum, factor in (("history_window", 2, "2 * num_valid_batches"),
                                     ("warmup_steps", 0, "num_valid_batches")):
            value = getattr(self, key)
            if isinstance(value, str) and value == "auto":
                if self.num_valid_batches is None:
                    raise ValueError(f"weighting.{key} is 'auto', which means {factor}, but "
                                     f"weighting.num_valid_batches is not set; set num_valid_batches "
                                     f"to the number of validation batches M, or give {key} as a number")
            elif not (is_int(value) and value >= minimum):
                raise ValueError(f"weighting.{key} must be an integer >= {minimum} or 'auto', got {value!r}")

    def resolved(self) -> tuple[int, int]:
        """(N, W) as integers, "auto" replaced by 2M and M."""
        m = self.num_valid_batches
        n = 2 * m if self.history_window == "auto" else int(self.history_window)
        w = m if self.warmup_steps == "auto" else int(self.warmup_steps)
        return n, w


@register("coba")
class CoBa(WeightingMethod):
    """Convergence Balancer: weights from the slopes of each task's validation-loss ratio.

    Call ``update(Signals(val_losses=...))`` once per controller step t = 0, 1, 2, ... . A call with any
    non-finite loss leaves the controller unchanged (t does not advance, weights stay) and logs a
    warning. Ratio denominators must be > 0: a zero or negative l_i(0) raises ValueError (leaving
    the controller unchanged), since a ratio to it is meaningless; a zero validation loss almost
    always means the task had no tokens in the batch.

    ``scores()``: ``slopes`` (alpha_i(t), real from the first update), ``rcs``, ``acs`` (per task)
    and ``df``; during warm-up rcs and acs are uniform 1/K and df is 1.0 (not yet defined).
    """

    Params = CoBaParams
    needs = Needs(val_losses=True)

    def __init__(self, num_tasks: int, **params: Any) -> None:
        super().__init__(num_tasks, **params)
        p: CoBaParams = self.params
        self.variant = p.variant
        self.history_window, self.warmup_steps = p.resolved()
        self.tau = float(p.tau)
        k, n = self.num_tasks, self.history_window
        self._initial: np.ndarray | None = None       # l(0), the ratio denominators
        self._start_losses: np.ndarray | None = None  # from start(); used by "mftcoder"
        self._ratios = TrailingWindow(k, n)           # r(s), last N steps
        self._slopes = TrailingWindow(k, n + 1)       # alpha(s), last N (+1: mftcoder with W = 0)
        self._df_history = GrowingVector()            # DF inputs since warm-up, no window
        self._df_abs_sum = 0.0                        # running sum of |DF inputs|
        self._set_warmup_scores()

    def start(self, val_losses: Any = None) -> None:
        """Variant "mftcoder": keep the losses of the full validation pass before training as the
        ratio denominators. Variant "paper": only checks the shape; its l_i(0) is the first
        update's losses."""
        if val_losses is None:
            return
        losses = self._loss_vector(val_losses, "val_losses")  # a wiring mistake fails either way
        if self.variant != "mftcoder":
            return
        if self._t > 0:
            raise RuntimeError("coba: start() must be called before the first update(); "
                               f"{self._t} updates have been made")
        if not np.isfinite(losses).all() or (losses <= 0).any():
            raise ValueError(f"coba: start() needs finite validation losses > 0 (they become the "
                             f"ratio denominators), got {losses.tolist()}")
        self._start_losses = losses

    def _update(self, signals: Signals) -> np.ndarray:
        losses = signals.val_losses
        t = self._t
        if not np.isfinite(losses).all():
            return self._skip(t, losses, "non-finite validation losses")
        denominators = self._first_denominators(losses) if t == 0 else self._initial
        with np.errstate(all="ignore"):
            ratios = losses / denominators
        if not np.isfinite(ratios).all():
            return self._skip(t, losses, "non-finite loss ratios")
        if t == 0:
            self._initial = denominators
        n = self.history_window
        self._ratios.append(ratios)
        slopes = cm.window_slopes(self._ratios.last(min(n, t + 1)))
        self._slopes.append(slopes)
        if self.variant == "paper":
            self._step_paper(t, slopes)
        else:
            self._step_mftcoder(t, slopes)
        self._t = t + 1
        return self.weights

    def _step_paper(self, t: int, slopes: np.ndarray) -> None:
        if t <= self.warmup_steps:
            self._set_warmup_scores()
            return
        alpha_max = float(slopes.max())
        self._df_history.append(alpha_max)
        self._df_abs_sum += abs(alpha_max)
        self._df = cm.divergence_factor_paper(self._df_history.view(), self.tau, self._df_abs_sum)
        self._rcs = cm.relative_convergence_scores(slopes)
        self._acs = cm.absolute_convergence_scores(self._slopes.last(min(self.history_window, t + 1)))
        self._df = ABLATED_DF.get(self.params.ablate, self._df)
        self._weights = cm.combine_paper(self._df, self._rcs, self._acs)

    def _step_mftcoder(self, c: int, slopes: np.ndarray) -> None:
        n, w = self.history_window, self.warmup_steps
        if c < w:
            self._set_warmup_scores()
            return
        beta = cm.max_ratio_curve_slope(self._ratios.last(min(n, c + 1)))
        self._df_history.append(beta)
        self._df_abs_sum += abs(beta)
        self._df = cm.divergence_factor_mftcoder(self._df_history.view(), self.tau, self._df_abs_sum)
        self._rcs = cm.relative_convergence_scores(slopes)
        self._acs = cm.absolute_convergence_scores(self._slopes.last(cm.mftcoder_acs_window(c, n, w)))
        self._df = ABLATED_DF.get(self.params.ablate, self._df)
        self._weights = cm.combine_mftcoder(self._df, self._rcs, self._acs)

    def _first_denominators(self, losses: np.ndarray) -> np.ndarray:
        use_start = self.variant == "mftcoder" and self._start_losses is not None
        if self.variant == "mftcoder" and not use_start:
            logger.warning("coba (mftcoder): start() was not called before the first update; the "
                           "first update's losses become the ratio denominators")
        denominators = self._start_losses if use_start else losses
        bad = np.flatnonzero(denominators <= 0)
        if bad.size:
            raise ValueError(f"coba: ratio denominators l_i(0) must be > 0, got {denominators.tolist()} "
                             f"(tasks {bad.tolist()}); a zero validation loss usually means the task had "
                             "no tokens in the controller batch")
        return denominators.copy()

    def _skip(self, t: int, losses: np.ndarray, why: str) -> np.ndarray:
        logger.warning("coba: %s at controller step %d: %s; update skipped, t and weights unchanged",
                       why, t, losses.tolist())
        return self.weights

    def _set_warmup_scores(self) -> None:
        k = self.num_tasks
        self._weights = np.full(k, 1.0 / k)
        self._rcs = np.full(k, 1.0 / k)
        self._acs = np.full(k, 1.0 / k)
        self._df = 1.0

    def scores(self) -> dict[str, list[float] | float]:
        slopes = self._slopes.last(1)[:, 0] if len(self._slopes) else np.zeros(self.num_tasks)
        return {"rcs": self._rcs.tolist(), "acs": self._acs.tolist(), "df": float(self._df),
                "slopes": slopes.tolist()}

    # ---- checkpointing ------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {"format": _STATE_FORMAT, "variant": self.variant,
                "history_window": self.history_window, "warmup_steps": self.warmup_steps}

    def _state(self) -> dict[str, Any]:
        """Plain lists and floats; the tau in it is informational (the history does not depend on
        tau, so a resumed run may change it)."""
        def as_list(a: np.ndarray | None) -> list[float] | None:
            return None if a is None else a.tolist()

        return {"tau": self.tau, "initial_losses": as_list(self._initial),
                "start_losses": as_list(self._start_losses),
                "ratios": self._ratios.tolist(), "slopes": self._slopes.tolist(),
                "df_history": self._df_history.tolist(), "df_abs_sum": self._df_abs_sum,
                "weights": self._weights.tolist(), "rcs": self._rcs.tolist(), "acs": self._acs.tolist(),
                "df": float(self._df)}

    def _load_state(self, state: dict[str, Any]) -> None:
        def as_array(values: list[float] | None) -> np.ndarray | None:
            return None if values is None else np.asarray(values, dtype=np.float64)

        self._initial = as_array(state["initial_losses"])
        self._start_losses = as_array(state["start_losses"])
        self._ratios.load(state["ratios"])
        self._slopes.load(state["slopes"])
        self._df_history.load(state["df_history"])
        self._df_abs_sum = float(state["df_abs_sum"])
        self._weights = as_array(state["weights"])
        self._rcs = as_array(state["rcs"])
        self._acs = as_array(state["acs"])
        self._df = float(state["df"])
