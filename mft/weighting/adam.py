"""A small NumPy Adam for the methods that learn their own weights (GradNorm's weights,
uncertainty weighting's log variances, FAMO's logits).

These K numbers get their own optimizer and learning rate: at fine-tuning learning rates (1e-5
and below) weights trained by the model's optimizer barely move (docs/design.md, "CoBa", last paragraph).
The arithmetic follows ``torch.optim.Adam`` (defaults, no amsgrad): weight decay is L2 added to
the gradient, m = m + (1 - b1)(g - m), v = b2 v + (1 - b2) g^2, and
p -= (lr / (1 - b1^n)) * m / (sqrt(v) / sqrt(1 - b2^n) + eps); tests compare it with torch.

A ``mask`` updates only some coordinates (the tasks present in a step): the others keep their
value, moments and step count n, which is therefore per coordinate. With every coordinate
present at every step it is exactly Adam.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class Adam:
    def __init__(self, size: int, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self.lr, self.eps, self.weight_decay = float(lr), float(eps), float(weight_decay)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.steps = np.zeros(size, dtype=np.int64)

    def step(self, params: np.ndarray, grad: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The parameters after one step on ``grad`` (a new array; ``params`` is not modified)."""
        sel = np.ones(params.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        p = np.array(params, dtype=np.float64)
        g = np.asarray(grad, dtype=np.float64)[sel]
        if self.weight_decay != 0.0:
            g = g + self.weight_decay * p[sel]
        self.steps[sel] += 1
        n = self.steps[sel].astype(np.float64)
        m = self.m[sel]
        m = m + (1.0 - self.beta1) * (g - m)
        v = self.beta2 * self.v[sel] + (1.0 - self.beta2) * (g * g)
        self.m[sel], self.v[sel] = m, v
        step_size = self.lr / (1.0 - self.beta1 ** n)
        denom = np.sqrt(v) / np.sqrt(1.0 - self.beta2 ** n) + self.eps
        p[sel] = p[sel] - step_size * (m / denom)
        return p

    def state_dict(self) -> dict[str, Any]:
        return {"m": self.m.tolist(), "v": self.v.tolist(), "steps": self.steps.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.m = np.asarray(state["m"], dtype=np.float64).copy()
        self.v = np.asarray(state["v"], dtype=np.float64).copy()
        self.steps = np.asarray(state["steps"], dtype=np.int64).copy()
