"""Intervals for the numbers a client might act on: proportions, means, rates, differences."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

Z95 = 1.959963984540054


def wilson_interval(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; ``(nan, nan)`` when n is 0."""
    if n <= 0:
        return (float("nan"), float("nan"))
    z = stats.norm.ppf(0.5 + level / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def mean_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval for a mean (nulls dropped); ``(nan, nan)`` below 2 values."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return (float("nan"), float("nan"))
    se = x.std(ddof=1) / math.sqrt(len(x))
    t = stats.t.ppf(0.5 + level / 2, len(x) - 1)
    return (float(x.mean() - t * se), float(x.mean() + t * se))


def poisson_rate_interval(count: float, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a rate ``count / exposure``."""
    if exposure <= 0:
        return (float("nan"), float("nan"))
    a = 1 - level
    lo = stats.chi2.ppf(a / 2, 2 * count) / 2 if count > 0 else 0.0
    hi = stats.chi2.ppf(1 - a / 2, 2 * count + 2) / 2
    return (lo / exposure, hi / exposure)


def resample_means(rng: np.random.Generator, values, n_boot: int, *, cells: int = 4_000_000) -> np.ndarray:
    """Means of ``n_boot`` bootstrap resamples of ``values``: the figures of
    ``values[rng.integers(0, n, (n_boot, n))].mean(axis=1)``, from the same random numbers,
    drawn a block of resamples at a time (about ``cells`` drawn rows each) so that the index
    matrix of a large table is never held whole. ``values`` may be a list of arrays of one
    length, resampled together (the same rows for each); the result then has a row per array."""
    many = isinstance(values, (list, tuple))
    arrays = [np.asarray(v, dtype=float) for v in (values if many else [values])]
    n = len(arrays[0])
    out = np.empty((len(arrays), n_boot))
    per = max(1, cells // max(n, 1))
    for start in range(0, n_boot, per):
        idx = rng.integers(0, n, (min(per, n_boot - start), n))
        for k, v in enumerate(arrays):
            out[k, start:start + len(idx)] = v[idx].mean(axis=1)
    return out if many else out[0]


def bootstrap_difference(a, b, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Difference of means ``mean(a) - mean(b)`` with a percentile bootstrap interval."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return (float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    ma = resample_means(rng, a, n_boot) if len(a) * n_boot <= 5e7 else \
        rng.normal(a.mean(), a.std(ddof=1) / math.sqrt(len(a)), n_boot)
    mb = resample_means(rng, b, n_boot) if len(b) * n_boot <= 5e7 else \
        rng.normal(b.mean(), b.std(ddof=1) / math.sqrt(len(b)), n_boot)
    d = ma - mb
    q = (1 - level) / 2
    return (float(a.mean() - b.mean()), float(np.quantile(d, q)), float(np.quantile(d, 1 - q)))


def nps_interval(promoters: int, detractors: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Interval for a net promoter score in points (-100..100) from the multinomial variance of
    promoters minus detractors; ``(nan, nan)`` when n is 0."""
    if n <= 0:
        return (float("nan"), float("nan"))
    pp, pd_ = promoters / n, detractors / n
    se = math.sqrt(max(pp + pd_ - (pp - pd_) ** 2, 0.0) / n)
    z = stats.norm.ppf(0.5 + level / 2)
    nps = pp - pd_
    return (100 * max(-1.0, nps - z * se), 100 * min(1.0, nps + z * se))
