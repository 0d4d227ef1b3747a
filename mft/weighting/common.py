"""Helpers shared by the baseline methods: parameter checks, per-task signal masks, the reference
losses l(0) from ``start()``, and the ``source`` switch."""
from __future__ import annotations

import logging
import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from .base import Needs, Signals

SOURCES = ("train", "valid")


def is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_real(key: str, value: Any, *, low: float | None = None, low_open: bool = False) -> None:
    """ValueError naming ``weighting.<key>`` unless value is a finite real (> or >= ``low``)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"weighting.{key} must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"weighting.{key} must be {'>' if low_open else '>='} {low}, got {value!r}")


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


def check_steps_per_epoch(value: Any) -> None:
    if value is not None and not (is_int(value) and value >= 1):
        raise ValueError(f"weighting.steps_per_epoch must be an integer >= 1 or None, got {value!r}")


def check_period(key: str, value: Any, steps_per_epoch: Any, *, allow_none: bool) -> None:
    """A period in controller steps: an integer >= 1, or "epoch" (needs steps_per_epoch)."""
    if value is None and allow_none:
        return
    if value == "epoch":
        if steps_per_epoch is None:
            raise ValueError(f"weighting.{key} is 'epoch' but weighting.steps_per_epoch is not set; "
                             f"the trainer passes it, or give {key} as a number of controller steps")
        return
    if not (is_int(value) and value >= 1):
        extra = ", 'epoch' or None" if allow_none else " or 'epoch'"
        raise ValueError(f"weighting.{key} must be an integer >= 1{extra}, got {value!r}")


def resolve_period(value: Any, steps_per_epoch: int | None) -> int | None:
    return int(steps_per_epoch) if value == "epoch" else (None if value is None else int(value))


def present(values: np.ndarray, label: str, what: str, logger: logging.Logger, t: int) -> np.ndarray:
    """Boolean mask of the tasks whose value is usable: finite and >= 0. NaN means "absent from
    this step" and is skipped silently; +-inf or a negative value is skipped with a warning."""
    ok = np.isfinite(values) & (values >= 0)
    bad = ~ok & ~np.isnan(values)
    if bad.any():
        logger.warning("%s: non-finite or negative %s at controller step %d: %s; tasks %s skipped "
                       "this step", label, what, t, values.tolist(), np.flatnonzero(bad).tolist())
    return ok


def start_reference(method: str, losses: np.ndarray, updates_made: int) -> np.ndarray:
    """l_i(0) from start()'s full validation pass: tasks whose loss is not finite and > 0 get NaN
    (they take l_i(0) from their first update instead). Called after an update: RuntimeError."""
    if updates_made > 0:
        raise RuntimeError(f"{method}: start() must be called before the first update(); "
                           f"{updates_made} updates have been made")
    ok = np.isfinite(losses) & (losses > 0)
    if not ok.all():
        logging.getLogger(__name__).warning(
            "%s: start() losses %s are not all finite and > 0; tasks %s take l(0) from their first update",
            method, losses.tolist(), np.flatnonzero(~ok).tolist())
    return np.where(ok, losses, math.nan)
