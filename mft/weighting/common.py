"""Helpers shared by the baseline methods: parameter checks, periods, per-task signal masks, the
reference losses l(0) from ``start()``, and the ``source`` switch."""
from __future__ import annotations

import logging
import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from .base import Needs, Signals
from .params import PREFIX, RunContext

SOURCES = ("train", "valid")


def is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_real(key: str, value: Any, *, low: float | None = None, low_open: bool = False) -> None:
    """ValueError naming ``weighting.params.<key>`` unless value is a finite real (> or >= ``low``)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{PREFIX}.{key}: must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{PREFIX}.{key}: must be {'>' if low_open else '>='} {low}, got {value!r}")


class LossSource:
    """The ``source`` switch of LBTW, GradNorm and FAMO: training losses ("train") or the
    controller's validation losses ("valid") drive the method. Mixed in before WeightingMethod."""

    source: str

    def _source_needs(self, **more: Any) -> Needs:
        return Needs(val_losses=self.source == "valid", train_losses=self.source == "train", **more)

    def _source_losses(self, signals: Signals) -> tuple[np.ndarray, str]:
        """The losses the source names and their signal name (for messages)."""
        what = "val_losses" if self.source == "valid" else "train_losses"
        return getattr(signals, what), what


class StartReference:
    """l_i(0) of LBTW* and GradNorm*: with source "valid", start()'s full validation pass (a task
    whose loss there is not finite and > 0 takes it from its first update, as every task does
    when start() was not called, with a warning). Mixed in before WeightingMethod."""

    source: str
    _initial_losses: np.ndarray  # l_i(0); NaN = not known yet

    @property
    def reads_start(self) -> bool:
        return self.source == "valid"

    def _start(self, losses: np.ndarray) -> None:
        self._initial_losses = start_reference(self._label(), losses)  # type: ignore[attr-defined]

    def _take_reference(self, losses: np.ndarray, ok: np.ndarray) -> None:
        """Tasks present (``ok``) without an l_i(0) yet take this update's loss, if it is > 0."""
        self._warn_unstarted("the first update's validation losses become l(0)")  # type: ignore[attr-defined]
        fresh = ok & np.isnan(self._initial_losses) & (losses > 0)
        self._initial_losses[fresh] = losses[fresh]


def check_period(key: str, value: Any, *, allow_none: bool) -> None:
    """A period in controller steps: an integer >= 1, or "epoch" (resolved when the method is
    built, from the run context's steps_per_epoch)."""
    if (value is None and allow_none) or value == "epoch":
        return
    if not (is_int(value) and value >= 1):
        extra = ", 'epoch' or None" if allow_none else " or 'epoch'"
        raise ValueError(f"{PREFIX}.{key}: must be an integer >= 1{extra}, got {value!r}")


def resolve_period(key: str, value: Any, context: RunContext) -> int | None:
    """A period as controller steps: "epoch" is the run's steps_per_epoch (ValueError naming the
    parameter when the context lacks it)."""
    if value == "epoch":
        return context.need("steps_per_epoch", key, value)
    return None if value is None else int(value)


def present(values: np.ndarray, label: str, what: str, logger: logging.Logger, t: int) -> np.ndarray:
    """Boolean mask of the tasks whose value is usable: finite and >= 0. NaN means "absent from
    this step" and is skipped silently; +-inf or a negative value is skipped with a warning."""
    ok = np.isfinite(values) & (values >= 0)
    bad = ~ok & ~np.isnan(values)
    if bad.any():
        logger.warning("%s: non-finite or negative %s at controller step %d: %s; tasks %s skipped "
                       "this step", label, what, t, values.tolist(), np.flatnonzero(bad).tolist())
    return ok


def start_reference(method: str, losses: np.ndarray) -> np.ndarray:
    """l_i(0) from start()'s full validation pass: tasks whose loss is not finite and > 0 get NaN
    (they take l_i(0) from their first update instead), with a warning."""
    ok = np.isfinite(losses) & (losses > 0)
    if not ok.all():
        logging.getLogger(__name__).warning(
            "%s: start() losses %s are not all finite and > 0; tasks %s take l(0) from their first update",
            method, losses.tolist(), np.flatnonzero(~ok).tolist())
    return np.where(ok, losses, math.nan)
