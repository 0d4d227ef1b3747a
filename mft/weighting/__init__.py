"""Task weighting: every method implements ``WeightingMethod`` and is built by name.

    from mft.weighting import RunContext, Signals, build_weighting
    ctl = build_weighting("coba", num_tasks=3, history_window=40, warmup_steps=20, tau=5.0)
    w = ctl.update(Signals(val_losses=[2.1, 3.0, 2.4]))
    auto = build_weighting("coba", num_tasks=3, context=RunContext(num_valid_batches=20))  # N = 2M, W = M

Methods: uniform, static, coba, and the baselines lbtw, gradnorm, famo (each with source="train"
or "valid"), dwa, uncertainty and random (module ``rlw``).

Importing this package registers the methods below; a new method is a new module with a
``@register("name")`` class, imported here.
"""
from .base import (Needs, Signals, StepSkipped, WeightingMethod, available_methods, build_weighting, register,
                   weighting_params)
from .params import RunContext
from . import coba, static, uniform  # noqa: F401  (importing registers the methods)
from . import dwa, famo, gradnorm, lbtw, rlw, uncertainty  # noqa: F401  (the paper's baselines)

__all__ = ["Needs", "RunContext", "Signals", "StepSkipped", "WeightingMethod", "available_methods",
           "build_weighting", "register", "weighting_params"]
