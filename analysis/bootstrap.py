"""Cluster bootstrap: resample scenarios, then runs within each drawn scenario.

Turns of one run are never resampled on their own: they are not independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_DRAWS = 2000


@dataclass(frozen=True)
class Estimate:
    value: float  # point estimate on the observed data
    low: float
    high: float
    numerator: int = 0
    denominator: int = 0

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "numerator": self.numerator,
            "denominator": self.denominator,
        }


def ratio_draws(
    scenarios: np.ndarray,
    num: np.ndarray,
    den: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Bootstrap replicates of sum(num) / sum(den), two-stage clustered.

    `scenarios`, `num`, `den` hold one entry per run. Replicates with no denominator
    are NaN.
    """
    codes, uniques = pd.factorize(scenarios)
    n_scen = len(uniques)
    total_num = np.zeros(draws)
    total_den = np.zeros(draws)
    if n_scen == 0:
        return np.full(draws, np.nan)
    picked = rng.integers(0, n_scen, size=(draws, n_scen))
    for s in range(n_scen):
        members = np.flatnonzero(codes == s)
        times = (picked == s).sum(axis=1)  # how often replicate b drew scenario s
        if times.sum() == 0:
            continue
        idx = members[rng.integers(0, len(members), size=(times.sum(), len(members)))]
        replicate = np.repeat(np.arange(draws), times)
        np.add.at(total_num, replicate, num[idx].sum(axis=1))
        np.add.at(total_den, replicate, den[idx].sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_den > 0, total_num / np.maximum(total_den, 1), np.nan)


def interval(
    point: float,
    replicates: np.ndarray,
    confidence: float = 0.95,
    numerator: int = 0,
    denominator: int = 0,
) -> Estimate:
    finite = replicates[np.isfinite(replicates)]
    if not np.isfinite(point) or finite.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), numerator, denominator)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Estimate(float(point), float(low), float(high), numerator, denominator)
