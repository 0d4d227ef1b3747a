"""CoBa, the Convergence Balancer (Gong et al., arXiv 2410.06741): the controller that keeps the
loss-ratio and slope histories and runs the paper's Algorithm 1 with the equations in
``coba_math``. ``CoBa._update`` is Algorithm 1's loop body, each line tagged with its equation.

Two variants, "paper" (the default) and "mftcoder" (the authors' released code), differ only in
the rows of ``VARIANTS`` below (the one place they are defined; docs/weighting.md shows them
side by side). Both: r_i(t) = l_i(t) / l_i(0); alpha_i(t) = OLS slope of r_i over the last
min(N, t+1) steps (0 at t = 0); RCS as in the paper; zero denominators give uniform RCS, a 0
logit in ACS, DF = 1. MFTCoder's fit drops points where a task was absent, misaligning x and y;
that is not reproduced (the stratified controller batch holds every task). The paper's ablations
(Sec. 4.3) fix DF: ``ABLATED_DF``.

Cost per update: the slope fits touch only the last N ratios (O(K*N)); DF's softmax over the whole
history is one O(n) NumPy pass (about 165 us at n = 1e5, against training steps of tens of ms);
the DF denominator sum|h| is a running sum. Never a refit of old slopes.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

import numpy as np

from . import coba_math as cm
from .base import Needs, Signals, StepSkipped, WeightingMethod, register
from .common import check_real, is_int
from .history import GrowingVector, TrailingWindow
from .params import PREFIX, RunContext
from .state import ARRAY, FLOAT, NAN_ARRAY, STATEFUL

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Variant:
    """How one variant reads each line of Algorithm 1 (t the controller step, N the history
    window, W the warm-up)."""

    reads_start: bool  # l_i(0): start()'s full validation pass (else the first update's losses)
    warming_up: Callable[[int, int], bool]  # (t, W): uniform weights at this step
    df_input: Callable[[np.ndarray, np.ndarray], float]  # (slopes, ratio window): next DF history entry
    divergence_factor: Callable[..., float]  # (DF history, tau, sum |history|) -> DF
    acs_window: Callable[[int, int, int], int]  # (t, N, W): slopes in the ACS window
    combine: Callable[[float, np.ndarray, np.ndarray], np.ndarray]  # (DF, RCS, ACS) -> weights


VARIANTS = {
    # "paper": l_i(0) = first update; uniform while t <= W; DF over max_i alpha_i(s), s = W+1..t,
    # clipped at 1; ACS over the last min(N, t+1) slopes; w = DF RCS + (1 - DF) ACS.
    "paper": Variant(reads_start=False,
                     warming_up=lambda t, w: t <= w,
                     df_input=lambda slopes, ratios: float(slopes.max()),
                     divergence_factor=cm.divergence_factor_paper,
                     acs_window=lambda t, n, w: cm.paper_acs_window(t, n),
                     combine=cm.combine_paper),
    # "mftcoder" (MFTCoder 8ba13f4): l_i(0) = start(); uniform while c < W, computed from c = W; DF
    # over the slope of the max-over-tasks ratio curve from c = W, not clipped (may exceed 1); ACS
    # over the last min(c-W+1, N-W+1) slopes; softmax(K mix), then 0.9 w + 0.1/K if any w < 1/(10K).
    "mftcoder": Variant(reads_start=True,
                        warming_up=lambda c, w: c < w,
                        df_input=lambda slopes, ratios: cm.max_ratio_curve_slope(ratios),
                        divergence_factor=cm.divergence_factor_mftcoder,
                        acs_window=cm.mftcoder_acs_window,
                        combine=cm.combine_mftcoder),
}
# The paper's ablations (Sec. 4.3), each removing one component by fixing DF: without RCS, DF = 0
# leaves w = ACS; without ACS, DF = 1 leaves w = RCS; without DF, both scores are mixed equally.
ABLATED_DF = {"rcs": 0.0, "acs": 1.0, "df": 0.5}
ABLATIONS = tuple(ABLATED_DF)
_STATE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class CoBaParams:
    """CoBa's hyper-parameters. The defaults are the paper's (Sec. 3.1 and its experimental
    settings): N = 2M, W = M with M the number of validation batches (``"auto"``; M comes from the
    run context), tau = 5. Algorithm 1's header prints N = 5M; the text's 2M is the one used."""

    variant: str = dataclasses.field(default="paper", metadata={"choices": tuple(VARIANTS)})  # "paper" (docs/design.md's reading) or "mftcoder" (authors' code)
    history_window: int | str = dataclasses.field(default="auto", metadata={"run_context": '`"auto"` = 2 num_valid_batches'})  # N: steps per slope fit and in the ACS window
    warmup_steps: int | str = dataclasses.field(default="auto", metadata={"run_context": '`"auto"` = num_valid_batches'})  # W: uniform while t <= W ("mftcoder": c < W)
    tau: float = 5.0                      # DF temperature: larger = sharper reaction to a rising slope
    ablate: str = dataclasses.field(default="", metadata={"choices": ("",) + ABLATIONS})  # "rcs" (w = ACS), "acs" (w = RCS), "df" (DF = 1/2)

    def __post_init__(self) -> None:
        check_real("tau", self.tau, low=0.0, low_open=True)
        for key, minimum in (("history_window", 2), ("warmup_steps", 0)):
            value = getattr(self, key)
            if value != "auto" and not (is_int(value) and value >= minimum):
                raise ValueError(f"{PREFIX}.{key}: must be an integer >= {minimum} or 'auto', got {value!r}")

    def resolved(self, context: RunContext) -> tuple[int, int]:
        """(N, W) as integers, "auto" replaced by 2M and M from the run context."""
        def resolve(key: str, factor: int) -> int:
            value = getattr(self, key)
            return factor * context.need("num_valid_batches", key, value) if value == "auto" else int(value)

        return resolve("history_window", 2), resolve("warmup_steps", 1)


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
    state_fields = {"_initial_losses": NAN_ARRAY, "_start_losses": NAN_ARRAY, "_ratios": STATEFUL,
                    "_slopes": STATEFUL, "_df_history": STATEFUL, "_df_abs_sum": FLOAT,
                    "_weights": ARRAY, "_rcs": ARRAY, "_acs": ARRAY, "_df": FLOAT}
    informational = ("tau",)  # the history does not depend on tau, so a resumed run may change it

    def _setup(self) -> None:
        self.variant = self.params.variant
        self.rules = VARIANTS[self.variant]
        self.history_window, self.warmup_steps = self.params.resolved(self.context)
        self.tau = float(self.params.tau)
        k, n = self.num_tasks, self.history_window
        self._initial_losses: np.ndarray | None = None  # l(0), the ratio denominators
        self._start_losses: np.ndarray | None = None    # from start(); read by "mftcoder"
        self._ratios = TrailingWindow(k, n)             # r(s), last N steps
        self._slopes = TrailingWindow(k, n + 1)         # alpha(s), last N (+1: mftcoder with W = 0)
        self._df_history = GrowingVector()              # DF inputs since warm-up, no window
        self._df_abs_sum = 0.0                          # running sum of |DF inputs|
        self._set_warmup_scores()

    @property
    def reads_start(self) -> bool:  # type: ignore[override]
        return self.rules.reads_start

    def _start(self, losses: np.ndarray) -> None:
        """Variant "mftcoder": the full validation pass before training gives the ratio denominators."""
        if not np.isfinite(losses).all() or (losses <= 0).any():
            raise ValueError(f"coba: start() needs finite validation losses > 0 (they become the "
                             f"ratio denominators), got {losses.tolist()}")
        self._start_losses = losses

    def _update(self, signals: Signals) -> None:
        """Algorithm 1's loop body at controller step t (lines 3-12)."""
        losses, t, rules = signals.val_losses, self.t, self.rules
        n, w = self.history_window, self.warmup_steps
        if not np.isfinite(losses).all():
            raise StepSkipped(f"non-finite validation losses {losses.tolist()}")
        # ratio (Sec. 3.1; Algorithm 1, line 3): r_i(t) = l_i(t) / l_i(0)
        denominators = self._first_denominators(losses) if t == 0 else self._initial_losses
        with np.errstate(all="ignore"):
            ratios = losses / denominators
        if not np.isfinite(ratios).all():
            raise StepSkipped(f"non-finite loss ratios for losses {losses.tolist()}")
        if t == 0:
            self._initial_losses = denominators
        # slopes (eqs. 2-3; lines 4-5): OLS slope of each r_i over the last min(N, t+1) steps
        self._ratios.append(ratios)
        window = self._ratios.last(min(n, t + 1))
        slopes = cm.window_slopes(window)
        self._slopes.append(slopes)
        # warm-up (Sec. 3.1; lines 6, 11-12): uniform 1/K. The printed Algorithm 1 has the branches
        # swapped ("if t <= W" computes the scores); the text's warm-up is the one implemented.
        if rules.warming_up(t, w):
            self._set_warmup_scores()
            return
        # DF (Sec. 3.4, eq. 7; line 9). Paper variant: the history runs from W+1 (eq. 7: from 1),
        # n = t - W stands for t and the denominator takes |.| (readings: cm.divergence_factor_paper)
        entry = rules.df_input(slopes, window)
        self._df_history.append(entry)
        self._df_abs_sum += abs(entry)
        df = rules.divergence_factor(self._df_history.view(), self.tau, self._df_abs_sum)
        # RCS (Sec. 3.2, eq. 4; line 7)
        self._rcs = cm.relative_convergence_scores(slopes)
        # ACS (Sec. 3.3, eq. 5; line 8) over the variant's window of recent slopes. Paper variant:
        # n = min(N, t+1), a READING of eq. 5, which prints N (cm.paper_acs_window)
        self._acs = cm.absolute_convergence_scores(self._slopes.last(rules.acs_window(t, n, w)))
        # ablations (Sec. 4.3): a fixed DF removes RCS, ACS or DF
        self._df = ABLATED_DF.get(self.params.ablate, df)
        # mix (Sec. 3.4, eq. 6; line 10)
        self._weights = rules.combine(self._df, self._rcs, self._acs)

    def _first_denominators(self, losses: np.ndarray) -> np.ndarray:
        """l_i(0): start()'s losses where the variant reads them and start() was called, else this
        first update's losses; ValueError (nothing changed) for one that is not > 0."""
        self._warn_unstarted("the first update's losses become the ratio denominators")
        denominators = losses if self._start_losses is None else self._start_losses
        bad = np.flatnonzero(denominators <= 0)
        if bad.size:
            raise ValueError(f"coba: ratio denominators l_i(0) must be > 0, got {denominators.tolist()} "
                             f"(tasks {bad.tolist()}); a zero validation loss usually means the task had "
                             "no tokens in the controller batch")
        return denominators.copy()

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

    def _config(self) -> dict[str, Any]:
        return {"format": _STATE_FORMAT, "variant": self.variant,
                "history_window": self.history_window, "warmup_steps": self.warmup_steps}
