"""pass@k, the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained
on Code", eq. 1): with n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k), computed as a
product so that large n does not overflow."""
from __future__ import annotations

from typing import Iterable


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
    """Probability that at least one of k samples drawn from the n without replacement passes."""
    n, c = int(num_samples), int(num_correct)
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"need num_samples >= 1 and 0 <= num_correct <= num_samples, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and num_samples ({n}), got {k}")
    if n - c < k:
        return 1.0
    fail = 1.0
    for i in range(n - c + 1, n + 1):  # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
        fail *= 1.0 - k / i
    return 1.0 - fail


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """pass@k averaged over problems, from (num_samples, num_correct) per problem."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    if not values:
        raise ValueError("no problems to average over")
    return sum(values) / len(values)
