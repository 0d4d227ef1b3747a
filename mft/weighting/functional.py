"""Small numerical functions shared by the weighting rules (pure, float64)."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def softmax(z: ArrayLike) -> np.ndarray:
    """Numerically stable softmax of a 1-D vector (the max is subtracted before exp)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()
