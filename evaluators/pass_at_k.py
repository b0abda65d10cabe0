"""The unbiased pass@k estimator (Chen et al., 2021)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c of them correct) is correct.

    Uses the numerically stable product form ``1 - prod(1 - k / arange(n - c + 1, n + 1))``.
    Raises ValueError when k > n (the estimate is undefined; callers omit such k) or on bad counts.
    """
    if not (0 <= c <= n):
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not (1 <= k <= n):
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}: pass@k is undefined for k > n")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def estimate_pass_at_k(num_samples: int | Iterable[int], num_correct: Iterable[int], k: int) -> np.ndarray:
    """pass@k for each problem; ``num_samples`` is one count for all problems or one per problem."""
    correct = list(num_correct)
    samples = [int(num_samples)] * len(correct) if isinstance(num_samples, int) else list(num_samples)
    if len(samples) != len(correct):
        raise ValueError(f"{len(samples)} sample counts for {len(correct)} correct counts")
    return np.array([pass_at_k(n, c, k) for n, c in zip(samples, correct)])


def pass_at_k_report(num_samples: Iterable[int], num_correct: Iterable[int], ks: Iterable[int]) -> dict[str, float]:
    """Mean pass@k over problems for each k, omitting k larger than the smallest sample count."""
    samples, correct = list(num_samples), list(num_correct)
    if not samples:
        return {}
    return {f"pass@{k}": float(estimate_pass_at_k(samples, correct, k).mean()) for k in ks if k <= min(samples)}
