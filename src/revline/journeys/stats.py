"""Small statistics the funnel needs: Wilson intervals and duration quantiles.

Why Wilson: conversion rates of small splits (a channel with 7 leads) are common; the normal
interval then leaves [0, 1] or collapses to a point at 0 % or 100 %. Wilson's score interval
stays inside [0, 1] and keeps a sensible width at the edges (Brown, Cai & DasGupta 2001).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z95 = 1.959963984540054  # two-sided 95 %


def wilson(successes, trials, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of successes / trials, elementwise; NaN where trials is 0."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2 = z * z
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        # the interval always holds p (rounding at p = 0 or 1 could leave it a hair outside)
        lo = np.where(n > 0, np.clip(np.minimum(centre - half, p), 0.0, 1.0), np.nan)
        hi = np.where(n > 0, np.clip(np.maximum(centre + half, p), 0.0, 1.0), np.nan)
    return lo, hi


def ratio(successes, trials) -> np.ndarray:
    """Successes / trials, NaN where trials is 0."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, k / n, np.nan)


def quantiles(days: pd.Series) -> dict[str, float]:
    """n, p25, median, p75 and p90 of a series of durations in days (NaN when empty)."""
    d = days.dropna()
    if d.empty:
        return {"n": 0, "p25": np.nan, "median": np.nan, "p75": np.nan, "p90": np.nan}
    q = np.quantile(d.to_numpy(dtype=float), [0.25, 0.5, 0.75, 0.9])
    return {"n": int(len(d)), "p25": float(q[0]), "median": float(q[1]), "p75": float(q[2]), "p90": float(q[3])}
