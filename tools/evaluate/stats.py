"""Paired statistics for run_eval: Wilson intervals, McNemar, paired bootstrap, sample-size guidance, verdicts.

- A single rate gets a Wilson score interval (CLT intervals are too narrow under a few hundred items,
  arXiv 2503.01747).
- Two systems on the same items are compared *paired*: pass/fail metrics with McNemar's test (exact
  binomial on the discordant pairs when there are few of them, chi-square with continuity correction
  otherwise), continuous metrics with a paired bootstrap over item ids (seeded). The interval of the
  difference always comes from the paired bootstrap, so every metric has one.
- Verdict: ``improvement`` / ``regression`` when the test rejects at alpha (the sign of the difference
  says which), else ``no detectable difference``.
- Sample size for a pass-rate difference uses Connor's (1987) formula for paired proportions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

IMPROVEMENT, NO_DIFFERENCE, REGRESSION = "improvement", "no detectable difference", "regression"


def wilson(successes: int, n: int, alpha: float) -> tuple[float, float]:
    """Wilson score interval for a rate."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if successes == 0 else low), (1.0 if successes == n else high)


def binom_two_sided(k: int, n: int) -> float:
    """Exact two-sided binomial test p-value for k successes of n at p = 0.5."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def mcnemar(b: int, c: int, exact_below: int) -> tuple[float, str]:
    """(p-value, test name) from the discordant counts b (base only passes) and c (candidate only passes)."""
    n = b + c
    if n == 0:
        return 1.0, "McNemar (no discordant pairs)"
    if n < exact_below:
        return binom_two_sided(min(b, c), n), "McNemar exact binomial"
    stat = (abs(b - c) - 1) ** 2 / n
    return math.erfc(math.sqrt(stat / 2)), "McNemar chi-square (continuity corrected)"


def paired_bootstrap(
    base: Sequence[float],
    cand: Sequence[float],
    *,
    resamples: int,
    alpha: float,
    seed: int,
    statistic: Callable[[np.ndarray, np.ndarray, np.ndarray], float] | None = None,
) -> tuple[float, float, float, float]:
    """(observed delta, low, high, two-sided p) of cand - base, resampling item ids with replacement.

    ``statistic(base, cand, idx)`` returns the delta for the items ``idx``; default: difference of means.
    The p-value is twice the share of resampled deltas on the other side of 0 (percentile method).
    """
    a, b = np.asarray(base, dtype=float), np.asarray(cand, dtype=float)
    n = len(a)
    if n == 0:
        return 0.0, 0.0, 0.0, 1.0
    diff = b - a
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    if statistic is None:
        observed = float(diff.mean())
        deltas = diff[idx].mean(axis=1)
    else:
        observed = statistic(a, b, np.arange(n))
        deltas = np.array([statistic(a, b, row) for row in idx])
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    if np.allclose(deltas, 0.0):
        p = 1.0
    else:
        p = min(1.0, 2 * min(float(np.mean(deltas <= 0)), float(np.mean(deltas >= 0))))
    return observed, float(low), float(high), p


def needed_items_paired(delta: float, discordant: float, alpha: float, power: float) -> int:
    """Items needed to detect a paired pass-rate difference ``delta`` (Connor 1987).

    ``discordant`` is the expected share of items where the two systems disagree; it is at least |delta|.
    """
    d = abs(delta)
    if d <= 0:
        return 0
    psi = max(discordant, d + 1e-9)
    za, zb = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    n = (za * math.sqrt(psi) + zb * math.sqrt(psi - d * d)) ** 2 / (d * d)
    return math.ceil(n)


def detectable_effect(n: int, discordant: float, alpha: float, power: float) -> float:
    """The smallest pass-rate difference n paired items detect at this power (bisection on Connor's n)."""
    if n <= 0:
        return 1.0
    lo, hi = 1e-4, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if needed_items_paired(mid, max(discordant, mid), alpha, power) <= n:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass
class Comparison:
    metric: str
    kind: str
    base_mean: float
    cand_mean: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float | None
    test: str
    verdict: str
    base_interval: tuple[float, float] | None = None
    cand_interval: tuple[float, float] | None = None
    discordant: tuple[int, int] | None = None  # (base only passes, candidate only passes)


def verdict(p: float | None, delta: float, alpha: float, higher_is_better: bool = True) -> str:
    if p is None or p >= alpha or delta == 0:
        return NO_DIFFERENCE
    better = delta > 0 if higher_is_better else delta < 0
    return IMPROVEMENT if better else REGRESSION


def compare_binary(
    metric: str,
    base: Sequence[float],
    cand: Sequence[float],
    *,
    alpha: float,
    resamples: int,
    seed: int,
    exact_below: int,
) -> Comparison:
    a = [int(round(x)) for x in base]
    c = [int(round(x)) for x in cand]
    n = len(a)
    only_base = sum(1 for x, y in zip(a, c, strict=False) if x == 1 and y == 0)
    only_cand = sum(1 for x, y in zip(a, c, strict=False) if x == 0 and y == 1)
    p, test = mcnemar(only_base, only_cand, exact_below)
    delta, low, high, _ = paired_bootstrap(a, c, resamples=resamples, alpha=alpha, seed=seed)
    return Comparison(
        metric,
        "binary",
        sum(a) / n if n else 0.0,
        sum(c) / n if n else 0.0,
        delta,
        low,
        high,
        p,
        test,
        verdict(p, delta, alpha),
        wilson(sum(a), n, alpha),
        wilson(sum(c), n, alpha),
        (only_base, only_cand),
    )


def compare_continuous(
    metric: str,
    base: Sequence[float],
    cand: Sequence[float],
    *,
    alpha: float,
    resamples: int,
    seed: int,
    higher_is_better: bool = True,
    statistic: Callable[[np.ndarray, np.ndarray, np.ndarray], float] | None = None,
    means: tuple[float, float] | None = None,
) -> Comparison:
    delta, low, high, p = paired_bootstrap(base, cand, resamples=resamples, alpha=alpha, seed=seed, statistic=statistic)
    excludes_zero = low > 0 or high < 0
    p_eff = p if excludes_zero or p >= alpha else alpha  # the interval decides; keep p consistent with it
    bm, cm = (
        means if means else (float(np.mean(base)) if len(base) else 0.0, float(np.mean(cand)) if len(cand) else 0.0)
    )
    return Comparison(
        metric,
        "continuous",
        bm,
        cm,
        delta,
        low,
        high,
        p_eff,
        "paired bootstrap",
        verdict(p_eff if excludes_zero else 1.0, delta, alpha, higher_is_better),
    )


__all__ = [
    "IMPROVEMENT",
    "NO_DIFFERENCE",
    "REGRESSION",
    "Comparison",
    "binom_two_sided",
    "compare_binary",
    "compare_continuous",
    "detectable_effect",
    "mcnemar",
    "needed_items_paired",
    "paired_bootstrap",
    "verdict",
    "wilson",
]
